// The login form: a pre-session (GET /api/v1/login gives its CSRF token), then the POST.
import { get, post, setCsrfToken, ApiError } from './api.js';
import { $ } from './dom.js';

let countdown = null;

function showError(text) {
  const e = $('#login-error');
  e.textContent = text;
  e.hidden = !text;
}

async function preSession() {
  const p = await get('/api/v1/login');
  setCsrfToken(p.csrf_token);
}

function rateLimited(secs) {
  clearInterval(countdown);
  const btn = $('#login-submit');
  let left = Math.max(1, secs ?? 60);
  const tick = () => {
    showError(`too many attempts, retry in ${left} s`);
    btn.disabled = true;
    if (left-- <= 0) {
      clearInterval(countdown);
      btn.disabled = false;
      showError('');
    }
  };
  tick();
  countdown = setInterval(tick, 1000);
}

/** Shows the login form; `onLogin(answer)` runs after a successful login. */
export function showLogin(message, onLogin) {
  $('#app').hidden = true;
  $('#login').hidden = false;
  showError(message ?? '');
  $('#login-password').value = '';
  $('#login-user').focus();
  const form = $('#login-form');
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const user = $('#login-user').value.trim();
    const password = $('#login-password').value;
    if (!user || !password) {
      showError('enter the user and the password');
      return;
    }
    const btn = $('#login-submit');
    btn.disabled = true;
    showError('');
    try {
      let answer;
      try {
        await preSession();
        answer = await post('/api/v1/login', { user, password });
      } catch (e) {
        // A pre-session that expired between the GET and the POST: one fresh try.
        if (!(e instanceof ApiError) || e.status !== 403) throw e;
        await preSession();
        answer = await post('/api/v1/login', { user, password });
      }
      setCsrfToken(answer.csrf_token);
      $('#login-password').value = '';
      btn.disabled = false;
      $('#login').hidden = true;
      onLogin(answer);
    } catch (e) {
      btn.disabled = false;
      if (e instanceof ApiError && e.status === 429) rateLimited(e.retryAfter);
      else showError(e.message);
    }
  };
}
