// What this browser keeps: the API key (where the stage needs one) and the delete tokens of
// the photos uploaded from here. localStorage can be unavailable (private modes, storage
// full): then both live for this page only.

const KEY = 'gallery.apiKey';
const TOKENS = 'gallery.deleteTokens';
const memory = new Map();

function read(name) {
  try {
    return localStorage.getItem(name);
  } catch {
    return memory.get(name) ?? null;
  }
}

function write(name, value) {
  try {
    if (value === null) localStorage.removeItem(name);
    else localStorage.setItem(name, value);
  } catch {
    if (value === null) memory.delete(name);
    else memory.set(name, value);
  }
}

export function apiKey() {
  return read(KEY);
}

export function setApiKey(key) {
  write(KEY, key || null);
}

function tokens() {
  try {
    const found = JSON.parse(read(TOKENS) || '{}');
    return found && typeof found === 'object' ? found : {};
  } catch {
    return {};
  }
}

export function deleteToken(id) {
  return tokens()[id] ?? null;
}

export function rememberToken(id, token) {
  write(TOKENS, JSON.stringify({ ...tokens(), [id]: token }));
}

export function forgetToken(id) {
  const all = tokens();
  delete all[id];
  write(TOKENS, JSON.stringify(all));
}
