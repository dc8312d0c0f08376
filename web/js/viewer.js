// The viewer: one photo at a time in a modal dialog, with its facts, a link to the original,
// arrows to move through the feed and Escape to close; deletion for this browser's uploads.

import * as api from './api.js';
import { $, h, notify } from './dom.js';
import { bytes, date, dimensions, explain, kind, title } from './format.js';
import { canShow } from './formats.js';
import { thumbnailPath } from './feed.js';
import * as store from './store.js';

export class Viewer {
  constructor({ config, feed }) {
    this.config = config;
    this.feed = feed;
    this.id = null;
    this.blobUrl = null;
    this.shown = 0; // which render the image belongs to (a late answer must not overwrite)
    this.dialog = $('viewer');
    this.image = $('viewer-image');
    this.wait = $('viewer-wait');
    this.note = $('viewer-note');
    this.original = $('viewer-original');
    this.image.addEventListener('load', () => { this.wait.hidden = true; });
    $('viewer-prev').addEventListener('click', () => this.move(-1));
    $('viewer-next').addEventListener('click', () => this.move(1));
    $('viewer-close').addEventListener('click', () => this.dialog.close());
    $('viewer-delete').addEventListener('click', () => this.confirmDelete());
    this.original.addEventListener('click', (event) => this.openOriginal(event));
    this.dialog.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowLeft') this.move(-1);
      else if (event.key === 'ArrowRight') this.move(1);
      else return;
      event.preventDefault();
    });
    this.dialog.addEventListener('close', () => {
      this.release();
      this.image.removeAttribute('src');
      this.feed.focus(this.id);
    });
    // A click on the backdrop (outside the panel) closes, as people expect of a lightbox.
    this.dialog.addEventListener('click', (event) => {
      if (event.target === this.dialog) this.dialog.close();
    });
  }

  open(id) {
    this.id = id;
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
  }

  // The photos the viewer moves through, and where one of them is.
  place(id = this.id) {
    const records = this.feed.viewable();
    return { records, at: records.findIndex((record) => record.id === id) };
  }

  move(step) {
    const { records, at } = this.place();
    const next = records[at + step];
    if (!next) return;
    this.open(next.id);
    // Near the end of what is loaded: load the next page of the feed.
    if (at + step >= records.length - 3) this.feed.more();
  }

  release() {
    if (this.blobUrl) URL.revokeObjectURL(this.blobUrl);
    this.blobUrl = null;
  }

  async render() {
    const record = this.feed.record(this.id);
    if (!record) {
      this.dialog.close();
      return;
    }
    const render = ++this.shown;
    const { records, at } = this.place();
    const name = title(record);
    $('viewer-name').textContent = name;
    $('viewer-position').textContent = `${at + 1} of ${records.length}${this.feed.done ? '' : '+'}`;
    $('viewer-dimensions').textContent = dimensions(record.width, record.height);
    $('viewer-size').textContent = bytes(record.size);
    $('viewer-date').textContent = date(record.created_at);
    $('viewer-date').dateTime = record.created_at || '';
    $('viewer-type').textContent = kind(record.content_type);
    $('viewer-prev').disabled = at <= 0;
    $('viewer-next').disabled = at >= records.length - 1 && this.feed.done;
    $('viewer-delete').hidden = !store.deleteToken(record.id);
    this.original.href = record.links.image;
    this.original.download = record.filename || record.name;

    this.release();
    this.image.removeAttribute('src');
    this.image.alt = name;
    this.wait.hidden = false;
    this.wait.textContent = 'Loading…';
    this.note.hidden = true;

    const showable = await canShow(record.content_type);
    if (render !== this.shown) return;
    let path = record.links.image;
    if (!showable) {
      const preview = this.largestRendition(record);
      this.note.hidden = false;
      if (!preview) {
        this.note.textContent = record.status === 'failed'
          ? `This browser cannot show ${kind(record.content_type)} photos, and no preview could be made. Open the original to download it.`
          : 'The preview appears once the photo is processed.';
        this.wait.hidden = true;
        return;
      }
      this.note.textContent = `This browser cannot show ${kind(record.content_type)} photos: this is a smaller preview. Open the original to download it.`;
      path = preview;
    }
    if (!api.keyRequired()) {
      this.image.src = path;
      return;
    }
    try {
      const blob = await api.fetchBlob(path);
      if (render !== this.shown) return;
      this.blobUrl = URL.createObjectURL(blob);
      this.image.src = this.blobUrl;
    } catch (error) {
      if (render !== this.shown) return;
      this.wait.textContent = explain(error, this.config);
    }
  }

  largestRendition(record) {
    const renditions = Object.entries(record.renditions || {});
    if (record.status !== 'ready' || renditions.length === 0) return null;
    renditions.sort(([, a], [, b]) => b.width * b.height - a.width * a.height);
    return thumbnailPath(record, renditions[0][0], null);
  }

  // Where a key is needed, a plain link cannot send it: fetch the original, then save it
  // under the link's own name.
  async openOriginal(event) {
    if (!api.keyRequired()) return;
    event.preventDefault();
    try {
      const url = URL.createObjectURL(await api.fetchBlob(this.original.getAttribute('href')));
      const link = h('a', { href: url, download: this.original.download });
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      notify(explain(error, this.config));
    }
  }

  confirmDelete() {
    const record = this.feed.record(this.id);
    if (!record) return;
    const confirm = $('confirm');
    $('confirm-text').textContent = `“${title(record)}” will be removed from the gallery for everyone. This cannot be undone.`;
    confirm.returnValue = '';
    confirm.addEventListener('close', () => {
      if (confirm.returnValue === 'delete') this.remove(record);
    }, { once: true });
    confirm.showModal();
  }

  async remove(record) {
    const token = store.deleteToken(record.id);
    try {
      await api.deleteImage(record.id, token);
    } catch (error) {
      if (error.code === 'Forbidden') store.forgetToken(record.id);
      if (error.code !== 'NotFound') {
        notify(explain(error, this.config));
        return;
      }
    }
    store.forgetToken(record.id);
    const { records, at } = this.place(record.id);
    const next = records[at + 1] || records[at - 1];
    this.feed.remove(record.id);
    notify(`“${title(record)}” was deleted.`);
    if (next) this.open(next.id);
    else this.dialog.close();
  }
}
