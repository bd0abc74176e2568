// Writing into the page cheaply.

/**
 * Sets the text of `element` (one that holds only text), writing only when it changed, and into
 * its text node when it has one: `textContent =` replaces the node, which the browser then
 * removes from and adds to its layout tree and restyles; a new `data` only re-lays out the text.
 */
export function setText(element, text) {
  const node = element.firstChild;
  if (node !== null && node.nodeType === Node.TEXT_NODE && node.nextSibling === null) {
    if (node.data !== text) node.data = text;
  } else if (element.textContent !== text) {
    element.textContent = text;
  }
}
