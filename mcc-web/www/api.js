// The REST API client: JSON in and out, the CSRF token on every state-changing request,
// errors as ApiError carrying the server's `{"status", "error"}` message.

let csrfToken = null;
let onLoginRequired = () => {};

export function setCsrfToken(t) {
  csrfToken = t;
}

/** Called when an authenticated request answers 401 (session expired or logged out). */
export function setLoginRequiredHandler(f) {
  onLoginRequired = f;
}

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    // Seconds, from the Retry-After header of a 429 (null when absent or not a number).
    this.retryAfter = retryAfter;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `cannot reach mcc-web (${e.message})`, null);
  }
  const text = r.status === 204 ? '' : await r.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!r.ok) {
    const message =
      data && typeof data.error === 'string' ? data.error : `${r.status} ${r.statusText || 'error'} from ${path}`;
    const ra = Number.parseInt(r.headers.get('Retry-After') ?? '', 10);
    const err = new ApiError(r.status, message, Number.isFinite(ra) ? ra : null);
    if (r.status === 401 && !path.startsWith('/api/v1/login')) onLoginRequired(err);
    throw err;
  }
  if (data === undefined) throw new ApiError(r.status, `${path} answered something that is not JSON`, null);
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body ?? {});
export const put = (path, body) => request('PUT', path, body);
