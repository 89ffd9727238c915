// Server-Sent Events over fetch rather than EventSource: EventSource cannot
// send the Authorization header, and the token must never go in a URL. Same
// wire format and the same resume rule: a reconnect sends Last-Event-ID.

import {authHeaders, unauthorized} from './api.js';

// stream(url, {onEvent, onState, endEvent}) → close(). onEvent gets
// {id, event, data} (data parsed as JSON when it is JSON); onState gets
// "open" | "reconnecting" | "ended" | "failed" with a message. A named
// endEvent (the log stream's "end") stops for good; otherwise a dropped
// stream is reopened with backoff from the last id seen.
export function stream(url, {onEvent, onState = () => {}, endEvent = ''} = {}) {
  const ctl = new AbortController();
  let lastId = '';
  let delay = 500;
  let done = false;

  const run = async () => {
    while (!done) {
      try {
        const headers = authHeaders({Accept: 'text/event-stream'});
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetch(url, {headers, signal: ctl.signal, cache: 'no-store'});
        if (res.status === 401) {
          let detail = '';
          try { detail = (await res.json()).detail || ''; } catch { /* not JSON */ }
          await unauthorized(detail);
          continue;
        }
        if (!res.ok) {
          let detail = res.statusText;
          try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
          if (res.status === 404 || res.status === 422) {
            done = true;
            onState('failed', detail);
            return;
          }
          throw new Error(detail);
        }
        onState('open', '');
        delay = 500;
        const ended = await read(res.body, (ev) => {
          if (ev.id) lastId = ev.id;
          if (endEvent && ev.event === endEvent) {
            done = true;
            onEvent(ev);
            return true;
          }
          onEvent(ev);
          return false;
        });
        if (ended) {
          onState('ended', '');
          return;
        }
      } catch (err) {
        if (done || ctl.signal.aborted) return;
        onState('reconnecting', err && err.message ? err.message : String(err));
      }
      if (done) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  };
  run();
  return () => {
    done = true;
    ctl.abort();
  };
}

// read parses the event stream, calling emit per event; emit returning true
// stops. Resolves true when stopped so, false when the server closed.
async function read(body, emit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = {id: '', event: '', data: []};
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return false;
    buf += value;
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (ev.data.length) {
          const raw = ev.data.join('\n');
          let data = raw;
          try { data = JSON.parse(raw); } catch { /* plain text */ }
          if (emit({id: ev.id, event: ev.event || 'message', data})) {
            reader.cancel().catch(() => {});
            return true;
          }
        }
        ev = {id: ev.id, event: '', data: []};
        continue;
      }
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let val = i < 0 ? '' : line.slice(i + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'data') ev.data.push(val);
      else if (field === 'id') ev.id = val;
      else if (field === 'event') ev.event = val;
    }
  }
}
