// The grid: the feed newest first, a page at a time while scrolling, and the uploads of this
// page at the top as placeholders that become their thumbnails.

import * as api from './api.js';
import { $, h, wait } from './dom.js';
import { explain, title } from './format.js';

const PAGE_SIZE = 30;
const FINAL = new Set(['ready', 'failed', 'rejected']);
const WEBP = document.createElement('canvas').toDataURL('image/webp').startsWith('data:image/webp');

// The grid's rendition: `square` (made for it), else a `cover` one, else the default.
function gridRendition(config) {
  const renditions = config.renditions || {};
  if (renditions.square) return 'square';
  const cover = Object.keys(renditions).find((name) => renditions[name].fit === 'cover');
  return cover || config.defaultRendition;
}

export function thumbnailPath(record, rendition, format) {
  const query = new URLSearchParams({ size: rendition });
  if (format) query.set('format', format);
  return `${record.links.thumbnail}?${query}`;
}

export class Feed {
  constructor({ config, onOpen, onKeyRefused }) {
    this.config = config;
    this.onOpen = onOpen;
    this.onKeyRefused = onKeyRefused;
    this.rendition = gridRendition(config);
    this.box = config.renditions?.[this.rendition] || { width: 320, height: 320 };
    this.grid = $('grid');
    this.tiles = new Map(); // key (record id, or an upload's own key until it has one) -> tile
    this.cursor = null;
    this.done = false;
    this.loading = false;
    this.marked = false;
    this.status = $('feed-status');
    this.sentinel = $('sentinel');
    this.nearEnd = null; // observes the sentinel once started
    this.retry = $('feed-retry');
    this.retry.addEventListener('click', () => this.more());
    // Where an API key is needed, thumbnails come as blobs fetched with it, once near view.
    this.lazy = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        this.lazy.unobserve(entry.target);
        this.fetchInto(entry.target);
      }
    }, { rootMargin: '400px 0px' });
  }

  // Loads pages as the end of the grid comes near; again from the top after a restart.
  start() {
    this.nearEnd ??= new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.more();
    }, { rootMargin: '800px 0px' });
    this.nearEnd.observe(this.sentinel);
    this.more();
  }

  // The next page of the feed (the first, the first time); after a failure (offline, a
  // refused key), from where it stopped. Nothing before start (the key is not known yet).
  async more() {
    if (this.loading || this.done || !this.nearEnd) return;
    this.loading = true;
    this.retry.hidden = true;
    this.status.textContent = 'Loading photos…';
    try {
      const page = await api.listImages(this.cursor, PAGE_SIZE);
      for (const record of page.items) {
        if (this.tiles.has(record.id)) continue; // uploaded from this page meanwhile
        this.grid.append(this.tile(record).element);
        if (!FINAL.has(record.status)) this.track(record.id);
      }
      this.cursor = page.next_cursor;
      this.done = !this.cursor;
    } catch (error) {
      this.loading = false;
      this.status.textContent = explain(error, this.config);
      if (error.code === 'KeyRefused') this.onKeyRefused?.();
      else if (error.retryAfter) wait(error.retryAfter).then(() => this.more());
      else this.retry.hidden = false;
      return;
    }
    this.loading = false;
    this.showEnd();
    // Still near the bottom (a tall screen, few photos): the observer will not fire again.
    requestAnimationFrame(() => {
      if (this.sentinel.getBoundingClientRect().top < window.innerHeight + 800) this.more();
    });
  }

  restart() {
    for (const key of [...this.tiles.keys()]) this.remove(key);
    this.cursor = null;
    this.done = false;
    this.start();
  }

  showEnd() {
    const empty = this.tiles.size === 0 && this.done;
    $('empty').hidden = !empty;
    this.status.textContent = this.done && !empty ? 'You have reached the first photo.' : '';
  }

  // Records in grid order that the viewer can show (they have a name).
  viewable() {
    return [...this.grid.children]
      .map((element) => this.tiles.get(element.dataset.key))
      .filter((tile) => tile?.record?.name)
      .map((tile) => tile.record);
  }

  record(id) {
    return this.tiles.get(id)?.record ?? null;
  }

  focus(id) {
    this.tiles.get(id)?.element.querySelector('button')?.focus();
  }

  // A file being uploaded: a placeholder at the top at once, with its preview if any.
  placeholder(key, name, preview) {
    this.grid.prepend(this.tile({ id: key, filename: name, status: 'uploading' }, preview).element);
    $('empty').hidden = true;
  }

  // An upload's own preview, decoded after its placeholder was made: shown until the
  // thumbnail is (a ready tile keeps the thumbnail it is loading).
  preview(key, url) {
    const tile = this.tiles.get(key);
    if (!tile || tile.preview) return;
    tile.preview = url;
    if (tile.record.status !== 'ready') this.render(tile);
  }

  // The upload's record is known: its placeholder is that record from now on.
  attach(key, record) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    this.tiles.delete(key);
    if (this.tiles.has(record.id)) {
      // The feed listed it first: keep the placeholder's place, drop the feed's copy.
      this.remove(record.id);
    }
    tile.record = record;
    tile.element.dataset.key = record.id;
    this.tiles.set(record.id, tile);
    this.render(tile);
  }

  remove(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    this.tiles.delete(key);
    tile.stopped = true;
    if (tile.blobUrl) URL.revokeObjectURL(tile.blobUrl);
    tile.element.remove();
    this.showEnd();
  }

  // Poll the image until it is done, backing off from half a second to five; the final
  // record, or null once it is gone (deleted, or a ticket never used).
  track(id) {
    const tile = this.tiles.get(id);
    if (!tile) return Promise.resolve(null);
    tile.watching ??= (async () => {
      let delay = 0.5;
      while (!tile.stopped) {
        await wait(delay);
        delay = Math.min(delay * 1.6, 5);
        let record;
        try {
          record = await api.getImage(id);
        } catch (error) {
          if (error.code === 'NotFound') {
            this.remove(id);
            return null;
          }
          if (error.retryAfter) delay = Math.max(delay, error.retryAfter);
          continue; // offline or busy: keep trying, more slowly
        }
        if (tile.stopped) return null;
        if (record.status === 'rejected') {
          this.remove(id);
          return record;
        }
        if (record.status !== tile.record.status) {
          tile.record = record;
          this.render(tile);
        }
        if (FINAL.has(record.status)) return record;
      }
      return null;
    })();
    return tile.watching;
  }

  tile(record, preview = null) {
    const element = h('li', { class: 'tile', 'data-key': record.id });
    const tile = { record, element, preview, blobUrl: null, stopped: false, watching: null };
    this.tiles.set(record.id, tile);
    this.render(tile);
    return tile;
  }

  render(tile) {
    const { record, element } = tile;
    const name = title(record);
    element.className = `tile is-${record.status}`;
    const frame = record.name
      ? h('button', { type: 'button', class: 'tile-frame', onclick: () => this.onOpen(record.id) })
      : h('div', { class: 'tile-frame' });
    if (record.status === 'ready') {
      // An upload's own preview stays underneath until its thumbnail has arrived.
      if (tile.preview) frame.append(h('img', { class: 'tile-image', src: tile.preview, alt: '' }));
      frame.append(this.thumbnail(tile, name));
    } else {
      if (tile.preview) frame.append(h('img', { class: 'tile-image', src: tile.preview, alt: name }));
      else frame.append(h('span', { class: 'visually-hidden', text: name }));
      const label = { uploading: 'Uploading', pending: 'Processing', failed: 'No thumbnail' }[record.status];
      frame.append(h('span', { class: 'tile-state', text: label || '' }));
    }
    element.replaceChildren(frame);
  }

  thumbnail(tile, alt) {
    const { width, height } = this.box;
    const image = h('img', { class: 'tile-image is-thumb', alt, width, height, decoding: 'async' });
    image.addEventListener('load', () => {
      image.classList.add('is-loaded');
      if (!this.marked) {
        this.marked = true;
        performance.mark('gallery:first-thumbnail');
      }
    });
    image.addEventListener('error', () => tile.element.classList.add('is-broken'));
    if (api.keyRequired()) {
      image.dataset.path = thumbnailPath(tile.record, this.rendition, WEBP ? 'webp' : 'jpeg');
      image.dataset.key = tile.record.id;
      this.lazy.observe(image);
      return image;
    }
    // The browser picks WebP where it takes it; every browser may keep both as they are.
    image.loading = 'lazy';
    image.src = thumbnailPath(tile.record, this.rendition, 'jpeg');
    return h('picture', {},
      h('source', { type: 'image/webp', srcset: thumbnailPath(tile.record, this.rendition, 'webp') }),
      image);
  }

  async fetchInto(image) {
    const tile = this.tiles.get(image.dataset.key);
    try {
      const blob = await api.fetchBlob(image.dataset.path);
      if (!tile || tile.stopped) return;
      if (tile.blobUrl) URL.revokeObjectURL(tile.blobUrl);
      tile.blobUrl = URL.createObjectURL(blob);
      image.src = tile.blobUrl;
    } catch {
      tile?.element.classList.add('is-broken');
    }
  }
}
