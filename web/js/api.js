// The service's HTTP API. It is on the page's own origin (the distribution routes the API's
// paths to it), so every path is absolute and no URL is configured. Each failure becomes an
// ApiError carrying the service's error code, which format.js puts into words.

export class ApiError extends Error {
  constructor(status, code, message = '', retryAfter = null) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// API Gateway answers some errors itself, as {"message": ...} without a code.
const GATEWAY_CODES = {
  403: 'KeyRefused',
  413: 'PayloadTooLarge',
  429: 'TooManyRequests',
  502: 'ServiceFailed',
  504: 'ServiceFailed',
};

let apiKey = null;

export function useKey(key) {
  apiKey = key || null;
}

export function keyRequired() {
  return apiKey !== null;
}

function withKey(headers = {}) {
  return apiKey ? { ...headers, 'X-Api-Key': apiKey } : headers;
}

function seconds(value) {
  const parsed = Number.parseInt(value ?? '', 10);
  return Number.isFinite(parsed) && parsed >= 0 ? parsed : null;
}

function unreachable() {
  return navigator.onLine === false
    ? new ApiError(0, 'Offline')
    : new ApiError(0, 'Unreachable');
}

// An answer other than 2xx as an ApiError: the service's code, else one for the status.
function failure(status, text, retryAfterHeader) {
  const retryAfter = seconds(retryAfterHeader);
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // An answer that is not JSON (a proxy's page, say): the status alone tells.
  }
  if (body?.error?.code) return new ApiError(status, body.error.code, body.error.message, retryAfter);
  const code = GATEWAY_CODES[status] || (status >= 500 ? 'ServiceFailed' : `Http${status}`);
  return new ApiError(status, code, body?.message, retryAfter);
}

// fetch, with the key where one is needed; an answer other than 2xx becomes an ApiError.
async function request(path, init = {}) {
  let response;
  try {
    response = await fetch(path, { ...init, headers: withKey(init.headers) });
  } catch {
    throw unreachable();
  }
  if (!response.ok) {
    throw failure(response.status, await response.text(), response.headers.get('Retry-After'));
  }
  return response;
}

async function call(method, path, { json, headers = {} } = {}) {
  const init = { method, cache: 'no-store', headers: { Accept: 'application/json', ...headers } };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const text = await (await request(path, init)).text();
  return text ? JSON.parse(text) : null;
}

export async function loadConfig() {
  return (await request('/config.json')).json();
}

export function listImages(cursor, limit) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set('cursor', cursor);
  return call('GET', `/images?${query}`);
}

export function getImage(id) {
  return call('GET', `/images/${encodeURIComponent(id)}`);
}

export function deleteImage(id, token) {
  return call('DELETE', `/images/${encodeURIComponent(id)}`, { headers: { 'X-Delete-Token': token } });
}

export function requestTicket(file, contentType) {
  return call('POST', '/uploads', {
    json: { filename: file.name, content_type: contentType, size: file.size },
  });
}

// XMLHttpRequest, not fetch: only it reports the bytes sent of a request body.
function send(url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', url);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    request.addEventListener('load', () => resolve(request));
    request.addEventListener('error', () => reject(unreachable()));
    request.addEventListener('abort', () => reject(new ApiError(0, 'Aborted')));
    request.send(body);
  });
}

// A photo up to maxUploadBytes, in one request. The service reads the type from the bytes,
// so the body goes as plain bytes whatever the file claims to be.
export async function uploadInline(file, onProgress) {
  const request = await send(
    '/upload',
    file,
    withKey({
      Accept: 'application/json',
      'Content-Type': 'application/octet-stream',
      'X-Filename': encodeURIComponent(file.name),
    }),
    onProgress,
  );
  if (request.status !== 201) {
    throw failure(request.status, request.responseText, request.getResponseHeader('Retry-After'));
  }
  return JSON.parse(request.responseText);
}

// A ticket's presigned POST: every field it names, then the file, straight to the bucket.
// S3 answers 204, or an XML error such as EntityTooLarge.
export async function postToBucket(upload, file, onProgress) {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append('file', file);
  const request = await send(upload.url, form, {}, onProgress);
  if (request.status >= 200 && request.status < 300) return;
  const text = request.responseText || '';
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] || `Http${request.status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] || '';
  throw new ApiError(request.status, code, message, seconds(request.getResponseHeader('Retry-After')));
}

// Image bytes with the API key, where the stage needs one (an <img> cannot send it).
export async function fetchBlob(path) {
  return (await request(path)).blob();
}
