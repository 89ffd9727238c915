// The create view (to be built).
import {h} from '../dom.js';

export function render(view, params) {
  view.append(h('h1', {}, 'create'), h('p', {class: 'muted'}, JSON.stringify(params)));
  return () => {};
}
