// The gallery page: reads the stage's config.json, asks for the API key where the stage
// needs one, then wires the feed, the uploads, the viewer and drag-and-drop together.

import * as api from './api.js';
import { $, clearNotice, notify } from './dom.js';
import { Feed } from './feed.js';
import { explain } from './format.js';
import * as store from './store.js';
import { Uploader } from './upload.js';
import { Viewer } from './viewer.js';

// Asks for the API key in a dialog; resolves with the key once one is saved (never, if the
// person closes the dialog without one: the API key button asks again).
function askForKey(problem = '') {
  const dialog = $('key-dialog');
  const input = $('key-input');
  const error = $('key-error');
  error.textContent = problem;
  error.hidden = !problem;
  input.value = store.apiKey() || '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const key = input.value.trim();
      if (dialog.returnValue === 'save' && key) {
        store.setApiKey(key);
        api.useKey(key);
        resolve(key);
      } else {
        $('feed-status').textContent = 'This gallery needs an API key: use the API key button above.';
      }
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes('Files');
}

function dropTarget(uploader) {
  const zone = $('dropzone');
  let depth = 0;
  document.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.hidden = false;
  });
  document.addEventListener('dragleave', (event) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.hidden = true;
  });
  document.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.hidden = true;
    uploader.add([...event.dataTransfer.files]);
  });
}

async function start() {
  let config;
  try {
    config = await api.loadConfig();
  } catch (error) {
    $('feed-status').textContent = `The gallery could not start: ${explain(error, {})}`;
    $('feed-retry').hidden = false;
    $('feed-retry').addEventListener('click', () => window.location.reload(), { once: true });
    return;
  }

  const feed = new Feed({
    config,
    onOpen: (id) => viewer.open(id),
    // Asked once however many requests were refused meanwhile.
    onKeyRefused: () => {
      if ($('key-dialog').open) return;
      askForKey('That key was refused. Check it and enter it again.').then(() => feed.more());
    },
  });
  const viewer = new Viewer({ config, feed });
  const uploader = new Uploader({ config, feed });

  const input = $('file-input');
  const choose = () => input.click();
  $('upload-button').addEventListener('click', choose);
  $('empty-upload').addEventListener('click', choose);
  input.addEventListener('change', () => {
    uploader.add([...input.files]);
    input.value = '';
  });
  dropTarget(uploader);

  window.addEventListener('offline', () => {
    notify('You are offline. The gallery carries on when the connection is back.', { sticky: true });
  });
  window.addEventListener('online', () => {
    clearNotice();
    notify('Back online.');
    feed.more();
  });

  if (config.apiKeyRequired) {
    const keyButton = $('key-button');
    keyButton.hidden = false;
    keyButton.addEventListener('click', () => askForKey().then(() => feed.restart()));
    const key = store.apiKey();
    if (key) api.useKey(key);
    else await askForKey();
  }
  feed.start();
}

start();
