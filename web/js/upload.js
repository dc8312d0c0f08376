// Uploads: each file gets a row with its progress and then its state, and a placeholder at
// the top of the grid. A file up to maxUploadBytes goes in one request to POST /upload; a
// larger one gets a ticket from POST /uploads and goes straight to the bucket.

import * as api from './api.js';
import { thumbnailPath } from './feed.js';
import { $, h, wait } from './dom.js';
import { bytes, explain } from './format.js';
import { canShow, declaredType } from './formats.js';
import * as store from './store.js';

const AT_ONCE = 3;
const TRIES = 4; // per step, when the service answers 503 or 429 with Retry-After
// Answers about the file itself: trying again cannot help.
const REJECTIONS = new Set([
  'PayloadTooLarge', 'EntityTooLarge', 'EntityTooSmall', 'UnsupportedMediaType', 'InvalidImage',
  'MalformedRequest',
]);

export class Uploader {
  constructor({ config, feed }) {
    this.config = config;
    this.feed = feed;
    this.queue = [];
    this.running = 0;
    this.count = 0;
    this.section = $('uploads');
    this.list = $('upload-list');
    $('clear-uploads').addEventListener('click', () => this.clearFinished());
  }

  add(files) {
    for (const file of files) {
      const entry = { key: null, file, preview: null };
      entry.row = this.row(entry);
      this.list.prepend(entry.row.element);
      this.enqueue(entry);
    }
    this.section.hidden = this.list.children.length === 0;
  }

  enqueue(entry) {
    this.count += 1;
    entry.key = `upload-${this.count}`;
    this.setState(entry, 'waiting', 'Waiting…');
    this.feed.placeholder(entry.key, entry.file.name, entry.preview);
    this.queue.push(entry);
    this.pump();
  }

  pump() {
    while (this.running < AT_ONCE && this.queue.length > 0) {
      const entry = this.queue.shift();
      this.running += 1;
      this.run(entry).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  async run(entry) {
    const { file } = entry;
    const progress = (sent, total) => this.progress(entry, sent, total);
    let record;
    try {
      this.setState(entry, 'uploading', 'Uploading…');
      const direct = file.size > this.config.maxUploadBytes;
      const type = declaredType(file);
      if (direct && !type) throw new api.ApiError(415, 'UnsupportedMediaType');
      record = await this.patiently(entry, () => (direct
        ? api.requestTicket(file, type)
        : api.uploadInline(file, progress)));
      store.rememberToken(record.id, record.delete_token);
      this.feed.attach(entry.key, record);
      entry.key = record.id;
      if (direct) await this.patiently(entry, () => api.postToBucket(record.upload, file, progress));
    } catch (error) {
      this.feed.remove(entry.key);
      if (record) store.forgetToken(record.id);
      const rejected = REJECTIONS.has(error.code);
      this.setState(entry, rejected ? 'rejected' : 'failed', explain(error, this.config), !rejected);
      return;
    }
    entry.row.progress.value = 100;
    this.setState(entry, 'processing', 'Processing…');
    const final = await this.feed.track(record.id);
    if (final?.status === 'ready') {
      this.setState(entry, 'ready', 'Ready');
      if (!entry.preview && !api.keyRequired()) {
        entry.row.thumb.append(h('img', { src: thumbnailPath(final, this.feed.rendition, 'webp'), alt: '' }));
      }
    } else if (final?.status === 'rejected' || final?.status === 'failed') {
      if (final.status === 'rejected') store.forgetToken(record.id);
      this.setState(entry, final.status, explain(final.error || {}, this.config));
    } else {
      this.setState(entry, 'failed', 'The photo was deleted before it was ready.');
    }
  }

  // The step again after the Retry-After a busy service asks for, a few times.
  async patiently(entry, step) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        const busy = error.code === 'ServiceUnavailable' || error.code === 'TooManyRequests';
        if (!busy || attempt >= TRIES) throw error;
        const seconds = error.retryAfter || 2 * attempt;
        this.setState(entry, 'uploading', explain({ ...error, retryAfter: seconds }, this.config));
        await wait(seconds);
      }
    }
  }

  progress(entry, sent, total) {
    const percent = total ? Math.round((sent / total) * 100) : 0;
    entry.row.progress.value = percent;
    entry.row.state.textContent = `Uploading… ${bytes(sent)} of ${bytes(total)}`;
  }

  setState(entry, state, text, retry = false) {
    entry.row.element.className = `upload is-${state}`;
    entry.row.state.textContent = text;
    entry.row.progress.hidden = !['waiting', 'uploading', 'processing'].includes(state);
    entry.row.retry.hidden = !retry;
  }

  row(entry) {
    const { file } = entry;
    const thumb = h('span', { class: 'upload-thumb', 'aria-hidden': 'true' });
    const type = declaredType(file);
    if (type) {
      // Previewed only where this browser decodes the type (HEIC mostly not): else the
      // placeholder waits for the service's thumbnail.
      const url = URL.createObjectURL(file);
      canShow(type).then((shown) => {
        if (!shown) {
          URL.revokeObjectURL(url);
          return;
        }
        entry.preview = url;
        thumb.append(h('img', { src: url, alt: '' }));
        this.feed.preview(entry.key, url);
      });
    }
    const progress = h('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
    const state = h('p', { class: 'upload-state' });
    const retry = h('button', {
      type: 'button', class: 'button quiet small', hidden: true, text: 'Retry', onclick: () => this.enqueue(entry),
    });
    const element = h('li', { class: 'upload' },
      thumb,
      h('div', { class: 'upload-main' },
        h('p', { class: 'upload-name' }, h('span', { text: file.name }), h('span', { class: 'upload-size', text: bytes(file.size) })),
        progress,
        state),
      retry);
    return { element, thumb, progress, state, retry };
  }

  clearFinished() {
    for (const row of this.list.querySelectorAll('.is-ready, .is-rejected, .is-failed')) {
      const preview = row.querySelector('img')?.src;
      if (preview) URL.revokeObjectURL(preview);
      row.remove();
    }
    this.section.hidden = this.list.children.length === 0;
  }
}
