/// <reference lib="dom" />
/**
 * The dashboard's side of the API: the bearer token (from the URL fragment `#token=…`, kept in sessionStorage,
 * removed from the address bar), JSON requests with the token as a header, and the live stream read with fetch
 * streaming (EventSource cannot send a header; the token never goes into a URL the server sees).
 */

const KEY = 'ballast.token';

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Take the token from the fragment if present (then drop the fragment), else from sessionStorage. */
export function initToken(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]!));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY);
}

export function setToken(t: string): void {
  sessionStorage.setItem(KEY, t.trim());
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = sessionStorage.getItem(KEY);
  return { ...(t ? { authorization: `Bearer ${t}` } : {}), ...extra };
}

async function answer<T>(r: Response): Promise<T> {
  if (r.status === 401) throw new Unauthorized('the API token was refused');
  const body = (await r.json().catch(() => null)) as (T & { message?: string; field?: string }) | null;
  if (!r.ok) throw new ApiError(r.status, body?.message ?? `HTTP ${r.status}`, body?.field);
  return body as T;
}

/**
 * API paths relative to the page: `/api/status` on a page at `/` is `/api/status`; on `ballast serve`'s page of
 * one portfolio (`/p/NAME/`) it is `/p/NAME/api/status`.
 */
function rel(path: string): string {
  return path.startsWith('/') ? path.slice(1) : path;
}

export async function getJSON<T>(path: string): Promise<T> {
  return answer<T>(await fetch(rel(path), { headers: headers(), cache: 'no-store' }));
}

export async function postJSON<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(await fetch(rel(path), { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) }));
}

export interface StreamHandlers {
  onEvent(event: string, data: unknown): void;
  onState(live: boolean): void;
  onUnauthorized(): void;
}

/** Read /api/events forever (reconnecting with back-off) until `stop()`. */
export function stream(h: StreamHandlers): { stop(): void } {
  let stopped = false;
  let ctrl: AbortController | null = null;
  let delay = 1000;
  const run = async (): Promise<void> => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const r = await fetch(rel('/api/events'), { headers: headers({ accept: 'text/event-stream' }), signal: ctrl.signal, cache: 'no-store' });
        if (r.status === 401) {
          h.onUnauthorized();
          return;
        }
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        h.onState(true);
        delay = 1000;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length > 0) {
              try {
                h.onEvent(event, JSON.parse(data.join('\n')));
              } catch {
                // a malformed event is skipped
              }
            }
          }
        }
      } catch {
        // network error or abort: reconnect below
      }
      if (stopped) return;
      h.onState(false);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  };
  void run();
  return {
    stop() {
      stopped = true;
      ctrl?.abort();
    },
  };
}
