// The health corner: /health's status, the Claude Code CLI in use, and the
// services registered on NATS (filled in by the health view's owner).
import {h, replace} from './dom.js';
import {get} from './api.js';

export function mount(el) {
  get('/health').then((hl) => {
    replace(el, h('span', {class: `dot ${hl.status}`, dataset: {status: hl.status}}), hl.status);
  }).catch((err) => replace(el, h('span', {class: 'dot degraded', dataset: {status: 'unreachable'}}), `unreachable: ${err.message}`));
}
