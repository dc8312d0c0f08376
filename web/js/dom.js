// Elements built from values: text always goes in as text, never as HTML.

export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'class') element.className = value;
    else if (name === 'text') element.textContent = value;
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

export function $(id) {
  return document.getElementById(id);
}

// A short message in the page's status area, read out by screen readers.
let noticeTimer = 0;
export function notify(message, { sticky = false } = {}) {
  const notice = $('notice');
  notice.textContent = message;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  if (!sticky) noticeTimer = setTimeout(() => { notice.hidden = true; }, 6000);
}

export function clearNotice() {
  clearTimeout(noticeTimer);
  $('notice').hidden = true;
}

export function wait(seconds) {
  return new Promise((resolve) => { setTimeout(resolve, seconds * 1000); });
}
