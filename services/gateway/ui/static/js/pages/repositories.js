// The repositories view (to be built).
import {h} from '../dom.js';

export function render(view, params) {
  view.append(h('h1', {}, 'repositories'), h('p', {class: 'muted'}, JSON.stringify(params)));
  return () => {};
}
