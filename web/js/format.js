// Numbers, dates, names and errors in words.

const TYPES = 'JPEG, PNG, GIF, WebP, HEIC or AVIF';

export function bytes(count) {
  if (!Number.isFinite(count)) return '';
  if (count < 1000) return `${count} B`;
  const units = ['kB', 'MB', 'GB'];
  let value = count;
  let unit = -1;
  do {
    value /= 1000;
    unit += 1;
  } while (value >= 1000 && unit < units.length - 1);
  return `${value.toLocaleString(undefined, { maximumFractionDigits: value < 10 ? 1 : 0 })} ${units[unit]}`;
}

export function dimensions(width, height) {
  return width && height ? `${width} × ${height} px` : 'Not known yet';
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function date(iso) {
  const parsed = new Date(iso);
  return Number.isNaN(parsed.getTime()) ? '' : dateFormat.format(parsed);
}

const KINDS = {
  'image/jpeg': 'JPEG',
  'image/png': 'PNG',
  'image/gif': 'GIF',
  'image/webp': 'WebP',
  'image/heic': 'HEIC',
  'image/heif': 'HEIF',
  'image/avif': 'AVIF',
};

export function kind(contentType) {
  return KINDS[contentType] || contentType || 'Unknown';
}

// What a photo is called on the page: its file name, which an upload may have left empty.
export function title(record) {
  return record.filename || 'Untitled photo';
}

// An ApiError (or an image record's `error`) as a sentence a person can act on.
export function explain(error, config) {
  const wait = error.retryAfter ? ` Trying again in ${error.retryAfter} s.` : '';
  switch (error.code) {
    case 'Offline':
      return 'You are offline. Check your connection and try again.';
    case 'Unreachable':
      return 'The service cannot be reached. Check your connection and try again.';
    case 'PayloadTooLarge':
    case 'EntityTooLarge':
      return `This file is too large: photos can be up to ${bytes(config.maxDirectUploadBytes)}.`;
    case 'EntityTooSmall':
      return 'This file is empty.';
    case 'UnsupportedMediaType':
      return `This is not a photo the gallery takes: use ${TYPES}.`;
    case 'InvalidImage':
      return 'This image is damaged, cut short or has too many pixels.';
    case 'RenderFailed':
      return 'No thumbnail could be made from this image.';
    case 'ServiceUnavailable':
      return `The service is busy.${wait || ' Try again in a moment.'}`;
    case 'TooManyRequests':
      return `Too many requests at once.${wait || ' Try again in a moment.'}`;
    case 'KeyRefused':
      return 'The API key was refused.';
    case 'Forbidden':
      return 'This browser may not delete that photo.';
    case 'NotFound':
      return 'That photo is no longer there.';
    case 'AccessDenied':
    case 'SignatureDoesNotMatch':
      return 'The upload link expired or was refused. Try again.';
    case 'ServiceFailed':
    case 'InternalError':
      return 'Something went wrong on the service. Try again in a moment.';
    default:
      return error.message || 'Something went wrong. Try again.';
  }
}
