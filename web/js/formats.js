// Which files can be previewed, and what a file declares itself as.

const ACCEPTED = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  avif: 'image/avif',
};
const TYPES = new Set(Object.values(ACCEPTED));
const HEIF = new Set(['image/heic', 'image/heif']);

// What the file says it is: the browser's type, or the one its extension names (browsers
// often give HEIC files no type). null for anything else: the service takes only these.
export function declaredType(file) {
  if (TYPES.has(file.type)) return file.type;
  const extension = file.name.split('.').pop().toLowerCase();
  return ACCEPTED[extension] || null;
}

// An 8×8 HEIC: whether this browser decodes HEIC at all (Safari does, Chrome and Firefox do
// not), asked once, without fetching any photo.
const HEIC_SAMPLE =
  'AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAXxtZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAAACJpbG9j' +
  'AAAAAERAAAEAAQAAAAABoAABAAAAAAAAACUAAAAjaWluZgAAAAAAAQAAABVpbmZlAgAAAAABAABodmMxAAAAAA5waXRtAAAAAAABAAAA/Glw' +
  'cnAAAADcaXBjbwAAAHVodmNDAQNwAAAAkAAAAAAAHvAA/P34+AAADwNgAAEAGEABDAH//wNwAAADAJAAAAMAAAMAHroCQGEAAQApQgEBA3AA' +
  'AAMAkAAAAwAAAwAeoCCBBZbqrprm4CGgwIAAAAyAAAADAIRiAAEABkQBwXPBiQAAABNjb2xybmNseAABAA0ABoAAAAAUaXNwZQAAAAAAAABA' +
  'AAAAQAAAAChjbGFwAAAACAAAAAEAAAAIAAAAAf///8gAAAAC////yAAAAAIAAAAQcGl4aQAAAAADCAgIAAAAGGlwbWEAAAAAAAAAAQABBYEC' +
  'AwWEAAAALW1kYXQAAAAhKAGvBBITDOD46cJoLz/FqVKU8n7QqyvjSZ93sRiSqf+g';
let heicProbe = null;

function decodes(blob) {
  const url = URL.createObjectURL(blob);
  const image = new Image();
  image.src = url;
  return image.decode().then(() => true, () => false).finally(() => URL.revokeObjectURL(url));
}

export function canShow(contentType) {
  if (!HEIF.has(contentType)) return Promise.resolve(true);
  if (heicProbe === null) {
    const bytes = Uint8Array.from(atob(HEIC_SAMPLE), (c) => c.charCodeAt(0));
    heicProbe = decodes(new Blob([bytes], { type: 'image/heic' }));
  }
  return heicProbe;
}
