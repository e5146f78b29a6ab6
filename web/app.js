/*
 * autolabel's labeling page: sign in, pick a job, claim a task, label it, submit, repeat.
 *
 * The contract with the task API is docs/task-api.md. Plain JavaScript, no build step, no
 * dependencies, nothing loaded from elsewhere. Every piece of data from the API reaches the
 * page through textContent, attribute values or img.src, never as markup.
 */
(() => {
  'use strict';

  const SESSION_KEY = 'autolabel.session';
  const PKCE_KEY = 'autolabel.pkce';
  const SIGNED_IN_AT_KEY = 'autolabel.signedInAt'; // when the hosted UI last sent the worker back
  const POLL_MS = 5000; // "No tasks right now": ask again this often
  const CONFIRM_MS = 1800; // how long the confirmation stays visible
  const MIN_BOX_SCREEN_PX = 4; // a drag smaller than this (on screen) is a click, not a box
  const TOKEN_MARGIN_S = 60; // refresh a Cognito ID token this long before it expires

  const TASK_KINDS = {
    'text-classification': 'Text classification',
    'image-classification': 'Image classification',
    'object-detection': 'Object detection',
  };
  // Box colors, with a text color that reads on each (WCAG AA on the tag).
  const PALETTE = [
    ['#ffd43b', '#111'], ['#4dabf7', '#111'], ['#ff6b6b', '#111'], ['#69db7c', '#111'],
    ['#da77f2', '#111'], ['#ffa94d', '#111'], ['#3bc9db', '#111'], ['#f783ac', '#111'],
    ['#a9e34b', '#111'], ['#ffffff', '#111'],
  ];

  const $ = (id) => document.getElementById(id);

  /** A new element; `text` sets textContent, `on<event>` adds a listener, the rest are attributes. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const enc = encodeURIComponent;

  const state = {
    config: null,
    session: null, // {token, workerId, email, expiresAt, refreshToken}
    jobs: [], // the jobs with work, as GET /jobs listed them last
    job: null, // the job being labeled
    task: null,
    deadline: 0, // when the lease runs out, on this machine's clock (ms)
    busy: false,
    generation: 0, // bumps whenever a new task is asked for; late answers of older requests are dropped
    emptyUntil: new Map(), // job -> ms: its last claim came back empty, don't claim again before
    pollTimer: 0,
    leaseTimer: 0,
    toastTimer: 0,
    mode: null, // 'classify' | 'detect'
    workspaceKey: '',
    det: null, // the object-detection tool's state
    signedOut: false,
    skipped: null, // the task just skipped: if the claim brings it back, say so
    movedFrom: null, // the job that ran out of tasks: if the page moves on to another by itself, say so
  };

  // ---------------------------------------------------------------- views and messages

  function show(view) {
    for (const id of ['view-message', 'view-jobs', 'view-task']) $(id).hidden = id !== view;
  }

  /** One message in place of everything else; actions are [label, handler] pairs. */
  function showMessage(title, text, actions) {
    stopLease();
    $('message-title').textContent = title;
    $('message-text').textContent = text || '';
    const box = $('message-actions');
    box.replaceChildren();
    for (const [label, handler] of actions || []) {
      box.append(h('button', { type: 'button', class: 'primary', text: label, onclick: handler }));
    }
    box.hidden = !(actions && actions.length);
    show('view-message');
  }

  function showNotice(text) {
    const notice = $('notice');
    notice.textContent = text;
    notice.hidden = !text;
  }

  function announce(text) {
    // Cleared first so that the same words twice are announced twice.
    const live = $('live');
    live.textContent = '';
    window.setTimeout(() => { live.textContent = text; }, 50);
  }

  function toast(text) {
    const t = $('toast');
    t.textContent = text;
    t.classList.add('on');
    window.clearTimeout(state.toastTimer);
    state.toastTimer = window.setTimeout(() => t.classList.remove('on'), CONFIRM_MS);
  }

  function setBusy(busy) {
    state.busy = busy;
    $('view-task').classList.toggle('busy', busy);
    for (const b of document.querySelectorAll('#panel button, #item button')) {
      if (busy) b.setAttribute('aria-disabled', 'true');
      else b.removeAttribute('aria-disabled');
    }
    if (!busy) updateDetectionControls();
  }

  // ---------------------------------------------------------------- tokens and sessions

  function base64url(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  /** The claims of a JWT (not verified: the API verifies; the page only reads `exp` and `email`). */
  function jwtClaims(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(part + '==='.slice((part.length + 3) % 4));
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return {};
    }
  }

  function expiresAtMs(session) {
    if (session.expiresAt) {
      const t = Date.parse(session.expiresAt);
      if (!Number.isNaN(t)) return t;
    }
    const exp = jwtClaims(session.token).exp;
    return typeof exp === 'number' ? exp * 1000 : Infinity;
  }

  function saveSession(session) {
    state.session = session;
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  }

  function loadSession() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
      return s && typeof s.token === 'string' ? s : null;
    } catch {
      return null;
    }
  }

  function clearSession() {
    state.session = null;
    sessionStorage.removeItem(SESSION_KEY);
  }

  /** Drops the named query parameters from the address bar (a one-time code must not linger). */
  function stripParams(names) {
    const url = new URL(window.location.href);
    for (const n of names) url.searchParams.delete(n);
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }

  async function signInLocal() {
    const params = new URLSearchParams(window.location.search);
    const code = params.get('login');
    if (code !== null) {
      stripParams(['login']);
      showMessage('Signing in…', '');
      let resp;
      try {
        resp = await fetch(state.config.auth.sessionUrl || '/local/session', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ code }),
          cache: 'no-store',
        });
      } catch {
        showMessage('Could not reach the server', 'Check that autolabel is still running, then open your sign-in link again.');
        return null;
      }
      if (!resp.ok) {
        clearSession();
        showMessage('This sign-in link does not work',
          'It has already been used or it has expired; ask for a new one.');
        return null;
      }
      const data = await resp.json();
      const session = { token: data.token, workerId: data.workerId, expiresAt: data.expiresAt,
        email: jwtClaims(data.token).email };
      saveSession(session);
      return session;
    }
    const saved = loadSession();
    if (saved && expiresAtMs(saved) > Date.now()) return saved;
    if (saved) {
      localExpired();
      return null;
    }
    showMessage('Sign in with your link',
      'Open the sign-in link you were given: autolabel run prints one for each worker.');
    return null;
  }

  function localExpired() {
    clearSession();
    state.signedOut = true;
    stopPoll();
    showMessage('Signed out', 'Your sign-in link has expired; ask for a new one.');
  }

  function cognitoUrl(path) {
    return new URL(path, state.config.auth.domain.replace(/\/*$/, '/'));
  }

  async function beginCognitoSignIn() {
    const auth = state.config.auth;
    state.signedOut = true;
    stopPoll();
    if (!window.crypto || !window.crypto.subtle) {
      showMessage('Cannot sign in here', 'Signing in needs a secure (https) page.');
      return;
    }
    showMessage('Signing in…', 'Taking you to the sign-in page.');
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
    const challenge = base64url(new Uint8Array(digest));
    const csrf = base64url(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state: csrf }));
    const url = cognitoUrl('oauth2/authorize');
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: auth.clientId,
      redirect_uri: auth.redirectUri,
      scope: 'openid email',
      state: csrf,
      code_challenge_method: 'S256',
      code_challenge: challenge,
    }).toString();
    window.location.assign(url.toString());
  }

  async function cognitoTokens(form) {
    const resp = await fetch(cognitoUrl('oauth2/token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
      cache: 'no-store',
    });
    if (!resp.ok) throw new Error(`token endpoint answered ${resp.status}`);
    return resp.json();
  }

  function sessionFromTokens(tokens, refreshToken) {
    const claims = jwtClaims(tokens.id_token);
    return {
      token: tokens.id_token,
      workerId: claims.sub,
      email: claims.email,
      expiresAt: claims.exp ? new Date(claims.exp * 1000).toISOString()
        : new Date(Date.now() + (tokens.expires_in || 3600) * 1000).toISOString(),
      refreshToken: tokens.refresh_token || refreshToken || null,
    };
  }

  async function refreshCognito() {
    const s = state.session;
    if (!s || !s.refreshToken) return false;
    try {
      const tokens = await cognitoTokens({ grant_type: 'refresh_token', client_id: state.config.auth.clientId,
        refresh_token: s.refreshToken });
      saveSession(sessionFromTokens(tokens, s.refreshToken));
      return true;
    } catch {
      return false;
    }
  }

  async function signInCognito() {
    const auth = state.config.auth;
    const params = new URLSearchParams(window.location.search);
    const again = [['Sign in again', () => beginCognitoSignIn()]];
    if (params.has('error')) {
      stripParams(['error', 'error_description', 'state']);
      showMessage('Sign-in did not finish', params.get('error_description') || params.get('error'), again);
      return null;
    }
    if (params.has('code')) {
      const code = params.get('code');
      const returned = params.get('state');
      stripParams(['code', 'state']);
      let pkce = null;
      try { pkce = JSON.parse(sessionStorage.getItem(PKCE_KEY) || 'null'); } catch { /* none */ }
      sessionStorage.removeItem(PKCE_KEY);
      if (!pkce || pkce.state !== returned) {
        showMessage('Sign-in did not finish', 'The sign-in answer does not belong to this tab.', again);
        return null;
      }
      showMessage('Signing in…', '');
      try {
        const tokens = await cognitoTokens({ grant_type: 'authorization_code', client_id: auth.clientId, code,
          redirect_uri: auth.redirectUri, code_verifier: pkce.verifier });
        saveSession(sessionFromTokens(tokens));
        sessionStorage.setItem(SIGNED_IN_AT_KEY, String(Date.now()));
        return state.session;
      } catch {
        showMessage('Sign-in did not finish', 'The sign-in service did not accept the sign-in.', again);
        return null;
      }
    }
    const saved = loadSession();
    if (saved) {
      state.session = saved;
      if (expiresAtMs(saved) - TOKEN_MARGIN_S * 1000 > Date.now() || await refreshCognito()) return state.session;
      clearSession();
    }
    await beginCognitoSignIn();
    return null;
  }

  async function freshToken() {
    const s = state.session;
    if (!s) return;
    if (expiresAtMs(s) - TOKEN_MARGIN_S * 1000 > Date.now()) return;
    if (state.config.auth.kind === 'cognito') await refreshCognito();
  }

  // ---------------------------------------------------------------- the task API

  class ApiError extends Error {
    constructor(status, body, fallback) {
      super((body && typeof body.message === 'string' && body.message) || fallback || `The server answered ${status}.`);
      this.status = status;
      this.reason = body && body.reason;
    }
  }

  class SignedOut extends Error {}

  async function api(method, path, body, retried) {
    await freshToken();
    if (!state.session) throw new SignedOut();
    const headers = { Authorization: `Bearer ${state.session.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(state.config.apiBase + path, {
        method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, null, 'Could not reach the server; check your connection.');
    }
    if (resp.status === 401) {
      if (state.config.auth.kind === 'cognito') {
        if (!retried && await refreshCognito()) return api(method, path, body, true);
        clearSession();
        const fresh = Date.now() - Number(sessionStorage.getItem(SIGNED_IN_AT_KEY) || 0) < 60_000;
        if (fresh) { // a token just issued and refused: signing in again would go round in circles
          state.signedOut = true;
          stopPoll();
          showMessage('Signed in, but the task API refused the sign-in',
            'Try signing in again. If this keeps happening, tell the people who run this labeling job.',
            [['Sign in again', () => beginCognitoSignIn()]]);
        } else {
          beginCognitoSignIn();
        }
      } else {
        localExpired();
      }
      throw new SignedOut();
    }
    let data = null;
    try { data = await resp.json(); } catch { /* no JSON body */ }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  /** An error no handler knew: say so, with a way to try again. */
  function trouble(err, retry) {
    if (err instanceof SignedOut || state.signedOut) return;
    showMessage('Something went wrong', err.message, [['Try again', retry]]);
  }

  // ---------------------------------------------------------------- jobs

  function stopPoll() {
    window.clearTimeout(state.pollTimer);
    state.pollTimer = 0;
  }

  async function loadJobs() {
    stopPoll();
    if (state.signedOut) return;
    const gen = ++state.generation;
    let data;
    try {
      data = await api('GET', '/jobs');
    } catch (err) {
      if (err instanceof SignedOut) return;
      if (err.status === 0) { // a blip: keep asking, quietly
        showMessage('No tasks right now', 'Could not reach the server; trying again in a few seconds.');
        state.pollTimer = window.setTimeout(loadJobs, POLL_MS);
        return;
      }
      trouble(err, loadJobs);
      return;
    }
    if (gen !== state.generation) return;
    const now = Date.now();
    state.jobs = (data && Array.isArray(data.jobs) ? data.jobs : [])
      .filter((j) => j && typeof j.job === 'string' && (typeof j.openTasks !== 'number' || j.openTasks > 0));
    const ready = state.jobs.filter((j) => !(state.emptyUntil.get(j.job) > now));
    if (!ready.length) {
      state.job = null;
      state.task = null;
      showMessage('No tasks right now', 'New tasks show up here by themselves; keep this page open.');
      state.pollTimer = window.setTimeout(loadJobs, POLL_MS);
      return;
    }
    if (ready.length === 1) {
      pickJob(ready[0]);
      return;
    }
    showJobs(ready);
  }

  function showJobs(jobs) {
    stopLease();
    state.task = null;
    state.movedFrom = null; // the worker picks the next job themselves
    const list = $('job-list');
    list.replaceChildren();
    for (const job of jobs) {
      const open = typeof job.openTasks === 'number'
        ? `${job.openTasks} open ${job.openTasks === 1 ? 'task' : 'tasks'}` : '';
      list.append(h('li', null, h('button', { type: 'button', class: 'job', onclick: () => pickJob(job) },
        h('span', { class: 'job-name', text: job.job }),
        h('span', { class: 'job-kind', text: TASK_KINDS[job.taskType] || job.taskType || '' }),
        h('span', { class: 'job-open', text: open }))));
    }
    show('view-jobs');
    const first = list.querySelector('button');
    if (first) first.focus();
  }

  function pickJob(job) {
    state.job = job;
    claimNext();
  }

  async function changeJob() {
    if (state.busy) return;
    const task = state.task;
    state.task = null;
    stopLease();
    setBusy(true);
    if (task) {
      try { await api('POST', `/jobs/${enc(task.job)}/tasks/${enc(task.taskId)}/release`); } catch { /* it times out anyway */ }
    }
    setBusy(false);
    state.job = null;
    let data;
    try { data = await api('GET', '/jobs'); } catch (err) { trouble(err, loadJobs); return; }
    state.jobs = (data.jobs || []).filter((j) => typeof j.openTasks !== 'number' || j.openTasks > 0);
    if (state.jobs.length > 1) showJobs(state.jobs);
    else loadJobs();
  }

  // ---------------------------------------------------------------- tasks

  async function claimNext() {
    stopPoll();
    stopLease();
    if (state.signedOut || !state.job) return;
    const job = state.job;
    const gen = ++state.generation;
    setBusy(true);
    let data;
    try {
      data = await api('POST', `/jobs/${enc(job.job)}/claim`);
    } catch (err) {
      if (gen !== state.generation || err instanceof SignedOut) return;
      if (err.status === 404) { // the job is gone
        state.emptyUntil.set(job.job, Date.now() + POLL_MS);
        loadJobs();
        return;
      }
      setBusy(false);
      trouble(err, claimNext);
      return;
    }
    if (gen !== state.generation) return;
    if (!data || !data.task) {
      state.task = null;
      state.movedFrom = job.job;
      state.emptyUntil.set(job.job, Date.now() + POLL_MS);
      loadJobs();
      return;
    }
    showTask(data.task);
  }

  function updateProgress(progress) {
    if (!progress) return;
    if (typeof progress.mine === 'number') $('mine').textContent = String(progress.mine);
    const batch = progress.batch;
    if (batch && typeof batch.total === 'number') {
      $('batch-text').textContent = `${batch.done} / ${batch.total}`;
      const bar = $('batch-bar');
      bar.max = Math.max(batch.total, 1);
      bar.value = clamp(batch.done || 0, 0, bar.max);
    }
  }

  function showTask(task) {
    state.task = task;
    $('view-task').dataset.taskId = String(task.taskId);
    if (state.skipped && state.skipped.job === task.job && state.skipped.taskId === task.taskId) {
      showNotice('There is no other task for you right now, so the one you skipped came back.');
    }
    state.skipped = null;
    if (state.movedFrom && state.movedFrom !== task.job) {
      // The counter is per job, so without this it would seem to drop to this job's count.
      showNotice(`There are no more tasks for you in ${state.movedFrom} right now, so this one is from ${task.job}.`);
    }
    state.movedFrom = null;
    const title = $('job-title');
    title.textContent = task.job;
    $('task-kind').textContent = TASK_KINDS[task.taskType] || task.taskType || '';
    const instructions = task.instructions || (state.job && state.job.instructions) || '';
    $('instructions').textContent = instructions;
    $('instructions-box').hidden = !instructions;
    $('change-job').hidden = state.jobs.length < 2;
    updateProgress(task.progress);
    show('view-task');

    const labels = Array.isArray(task.labels) ? task.labels.map(String) : [];
    if (task.taskType === 'object-detection') showDetection(task, labels);
    else if (task.taskType === 'text-classification' || task.taskType === 'image-classification') {
      showClassification(task, labels);
    } else {
      state.mode = null;
      state.workspaceKey = '';
      $('item').replaceChildren(h('p', { class: 'item-error', text: `This page cannot show ${task.taskType} tasks.` }));
      $('panel').replaceChildren(skipButton());
    }
    startLease(task);
    setBusy(false);
  }

  function startLease(task) {
    stopLease();
    const expires = Date.parse(task.leaseExpiresAt);
    const accepted = Date.parse(task.acceptedAt);
    if (Number.isNaN(expires)) {
      $('lease').textContent = '–';
      return;
    }
    // Counted from when the claim came back, so that a skewed clock here does not matter.
    state.deadline = Number.isNaN(accepted) ? expires : Date.now() + (expires - accepted);
    tickLease();
    state.leaseTimer = window.setInterval(tickLease, 1000);
  }

  function stopLease() {
    window.clearInterval(state.leaseTimer);
    state.leaseTimer = 0;
  }

  function tickLease() {
    const left = Math.max(0, Math.ceil((state.deadline - Date.now()) / 1000));
    const lease = $('lease');
    lease.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
    lease.classList.toggle('low', left <= 60);
    if (left <= 0 && !state.busy) {
      stopLease();
      showNotice('Your time on that task ran out, so it went back to the pool. Here is another one.');
      announce('Time ran out on the task. Loading another one.');
      claimNext();
    }
  }

  async function submit(answer, summary) {
    const task = state.task;
    if (state.busy || !task) return;
    const gen = state.generation;
    setBusy(true);
    showNotice('');
    let res;
    try {
      res = await api('POST', `/jobs/${enc(task.job)}/tasks/${enc(task.taskId)}/answer`, answer);
    } catch (err) {
      if (err instanceof SignedOut || gen !== state.generation) return;
      if (err.status === 409) { // it can no longer count: say why, go on
        showNotice(err.message);
        announce(`Not saved: ${err.message}`);
        claimNext();
      } else if (err.status === 404) {
        showNotice(err.message);
        announce(`Not saved: ${err.message}`);
        state.emptyUntil.set(task.job, Date.now() + POLL_MS);
        loadJobs();
      } else { // 400 (the answer does not fit), or the server could not be reached: keep the task
        setBusy(false);
        showNotice(err.status === 400 ? err.message : `${err.message} Your answer is not saved yet; submit it again.`);
        announce(`Not saved: ${err.message}`);
      }
      return;
    }
    if (gen !== state.generation) return;
    if (res) updateProgress(res.progress);
    toast(`✓ Submitted: ${summary}`);
    const mine = res && res.progress && typeof res.progress.mine === 'number'
      ? ` You have labeled ${res.progress.mine} in this job.` : '';
    announce(`Submitted: ${summary}.${mine}`);
    claimNext();
  }

  async function skip() {
    const task = state.task;
    if (state.busy || !task) return;
    const gen = state.generation;
    setBusy(true);
    showNotice('');
    try {
      await api('POST', `/jobs/${enc(task.job)}/tasks/${enc(task.taskId)}/release`);
    } catch (err) {
      if (err instanceof SignedOut || gen !== state.generation) return;
      if (err.status !== 404 && err.status !== 409) { // 404/409: it is not ours any more anyway
        setBusy(false);
        showNotice(`Could not skip: ${err.message}`);
        return;
      }
    }
    if (gen !== state.generation) return;
    state.skipped = { job: task.job, taskId: task.taskId };
    toast('Skipped');
    announce('Skipped. Loading the next task.');
    claimNext();
  }

  function skipButton() {
    return h('button', { type: 'button', class: 'secondary', 'aria-keyshortcuts': 'S', onclick: skip },
      'Skip ', h('kbd', { 'aria-hidden': 'true', text: 'S' }));
  }

  function keyHint(index) {
    return index < 9 ? h('kbd', { 'aria-hidden': 'true', text: String(index + 1) }) : null;
  }

  // ---------------------------------------------------------------- images

  /** Sizes a stage to the image's shape: as wide as there is room, never taller than the CSS allows. */
  function shapeStage(stage, width, height) {
    if (!(width > 0 && height > 0)) return;
    stage.style.aspectRatio = `${width} / ${height}`;
    stage.style.setProperty('--ar', String(width / height));
  }

  function loadImage(stage, task, alt, onReady) {
    for (const old of stage.querySelectorAll('img, .item-error')) old.remove();
    const item = task.item || {};
    shapeStage(stage, item.width || 4, item.height || 3);
    stage.classList.add('loading');
    const img = h('img', { alt, draggable: 'false', decoding: 'async' });
    img.addEventListener('load', () => {
      if (state.task !== task) return;
      stage.classList.remove('loading');
      shapeStage(stage, img.naturalWidth, img.naturalHeight);
      // Small images (MNIST's 28 px) are shown large; keep their pixels crisp.
      stage.classList.toggle('pixelated', img.naturalWidth < 160 && img.naturalHeight < 160);
      onReady(img);
    });
    img.addEventListener('error', () => {
      if (state.task !== task) return;
      stage.classList.remove('loading');
      img.remove();
      stage.prepend(h('p', { class: 'item-error' }, 'The image could not be loaded. ',
        h('button', { type: 'button', class: 'link-button', text: 'Try again',
          onclick: () => loadImage(stage, task, alt, onReady) })));
    });
    stage.prepend(img);
    img.src = typeof item.imageUrl === 'string' ? item.imageUrl : '';
  }

  // ---------------------------------------------------------------- classification

  function showClassification(task, labels) {
    state.mode = 'classify';
    state.det = null;
    const key = JSON.stringify(['classify', task.job, task.taskType, labels]);
    const workspace = $('workspace');
    workspace.className = `workspace ${task.taskType}`;
    if (state.workspaceKey !== key) {
      state.workspaceKey = key;
      const buttons = labels.map((label, i) => h('button', {
        type: 'button', class: 'class-button', 'data-index': i,
        'aria-keyshortcuts': i < 9 ? String(i + 1) : null, onclick: () => chooseClass(i),
      }, keyHint(i), h('span', { class: 'class-name', text: label })));
      const count = Math.min(labels.length, 9);
      $('panel').replaceChildren(
        h('div', { class: 'classes', role: 'group', 'aria-label': 'Classes' }, ...buttons),
        h('div', { class: 'actions' }, skipButton()),
        h('p', { class: 'hint', text: count > 1
          ? `Press 1–${count} to choose a class; S skips.` : 'Press 1 to choose the class; S skips.' }),
      );
    }
    const item = $('item');
    if (task.taskType === 'text-classification') {
      const text = task.item && typeof task.item.text === 'string' ? task.item.text : '';
      let box = item.querySelector('.text-item');
      if (!box) {
        box = h('div', { class: 'text-item', tabindex: '0', role: 'region', 'aria-label': 'Text to classify' });
        item.replaceChildren(box);
      }
      box.textContent = text;
      box.scrollTop = 0;
    } else {
      let stage = item.querySelector('.image-stage');
      if (!stage) {
        stage = h('div', { class: 'image-stage' });
        item.replaceChildren(stage);
      }
      loadImage(stage, task, 'Image to classify', () => {});
    }
  }

  function chooseClass(index) {
    const task = state.task;
    if (state.mode !== 'classify' || !task || state.busy) return;
    const label = task.labels[index];
    if (label === undefined) return;
    const button = document.querySelector(`.class-button[data-index="${index}"]`);
    if (button) {
      button.classList.add('chosen');
      window.setTimeout(() => button.classList.remove('chosen'), 400);
    }
    submit({ label: String(label) }, String(label));
  }

  // ---------------------------------------------------------------- object detection

  function showDetection(task, labels) {
    state.mode = 'detect';
    const key = JSON.stringify(['detect', task.job, labels]);
    const workspace = $('workspace');
    workspace.className = 'workspace object-detection';
    const keep = state.det && state.workspaceKey === key;
    const current = keep ? state.det.current : 0;
    if (!keep) buildDetection(labels);
    state.workspaceKey = key;
    const det = state.det;
    det.labels = labels;
    det.current = clamp(current, 0, Math.max(labels.length - 1, 0));
    det.boxes = [];
    det.selected = null;
    det.drag = null;
    det.ready = false;
    det.img = null;
    det.task = task;
    syncBoxes();
    updateCurrentClass();
    loadImage(det.stage, task, 'Image to label with boxes', (img) => {
      det.img = img;
      det.W = img.naturalWidth;
      det.H = img.naturalHeight;
      det.ready = true;
      syncBoxes();
      updateDetectionControls();
    });
  }

  function buildDetection(labels) {
    const stage = h('div', {
      class: 'stage', tabindex: '0', role: 'group', 'aria-label': 'Image: drag to draw a box',
      'aria-describedby': 'det-help',
    }, h('div', { class: 'layer' }));
    const classButtons = labels.map((label, i) => h('button', {
      type: 'button', class: 'class-button', 'data-index': i, 'aria-pressed': 'false',
      'aria-keyshortcuts': i < 9 ? String(i + 1) : null, onclick: () => setCurrentClass(i),
    }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), keyHint(i), h('span', { class: 'class-name', text: label })));
    classButtons.forEach((b, i) => b.style.setProperty('--c', PALETTE[i % PALETTE.length][0]));
    const list = h('ol', { class: 'box-list', 'aria-labelledby': 'boxes-title' });
    const submitButton = h('button', { type: 'button', class: 'primary', id: 'submit-boxes', onclick: submitBoxes },
      h('span', { class: 'submit-text', text: 'Submit' }), ' ', h('kbd', { 'aria-hidden': 'true', text: 'Enter' }));
    const count = Math.min(labels.length, 9);
    $('item').replaceChildren(h('div', { class: 'stage-wrap' }, stage));
    $('panel').replaceChildren(
      h('div', { class: 'classes', role: 'group', 'aria-labelledby': 'class-title' },
        h('h2', { id: 'class-title', class: 'panel-title', text: 'Class for new boxes' }), ...classButtons),
      h('div', { class: 'boxes' },
        h('div', { class: 'boxes-head' },
          h('h2', { id: 'boxes-title', class: 'panel-title' }, 'Boxes ', h('span', { class: 'box-count', text: '(0)' })),
          h('button', { type: 'button', class: 'secondary small', id: 'add-box', onclick: addBoxByKeyboard,
            text: 'Add a box' })),
        list,
        h('p', { class: 'empty-boxes',
          text: 'No boxes yet. Drag on the image to draw one. Submitting with no boxes says the image has no objects.' })),
      h('div', { class: 'actions' }, skipButton(), submitButton),
      h('p', { class: 'hint', id: 'det-help', text:
        `Drag on the image to draw a box; drag a box to move it, a corner to resize it. ${count > 1 ? `1–${count}` : '1'} `
        + 'choose the class for new boxes. Arrow keys move the selected box, Shift+arrows resize it, Delete removes it. '
        + 'Enter submits; S skips.' }),
    );
    state.det = {
      stage, layer: stage.querySelector('.layer'), list, submitButton, classButtons,
      labels, current: 0, boxes: [], selected: null, nextId: 1, drag: null, ready: false,
      img: null, W: 0, H: 0, task: null, els: new Map(), rows: new Map(),
    };
    stage.addEventListener('pointerdown', onPointerDown);
    stage.addEventListener('pointermove', onPointerMove);
    stage.addEventListener('pointerup', onPointerUp);
    stage.addEventListener('pointercancel', onPointerUp);
    stage.addEventListener('lostpointercapture', onPointerUp);
  }

  function labelIndex(label) {
    const i = state.det.labels.indexOf(label);
    return i < 0 ? 0 : i;
  }

  function boxColor(label) {
    return PALETTE[labelIndex(label) % PALETTE.length];
  }

  function setCurrentClass(index) {
    const det = state.det;
    if (!det || index >= det.labels.length) return;
    det.current = index;
    updateCurrentClass();
    announce(`Class for new boxes: ${det.labels[index]}`);
  }

  function updateCurrentClass() {
    const det = state.det;
    det.classButtons.forEach((b, i) => b.setAttribute('aria-pressed', String(i === det.current)));
  }

  function updateDetectionControls() {
    const det = state.det;
    if (state.mode !== 'detect' || !det) return;
    const n = det.boxes.length;
    det.submitButton.querySelector('.submit-text').textContent =
      n === 0 ? 'Submit: no objects' : `Submit ${n} ${n === 1 ? 'box' : 'boxes'}`;
    if (!det.ready) det.submitButton.setAttribute('aria-disabled', 'true');
    else if (!state.busy) det.submitButton.removeAttribute('aria-disabled');
  }

  /** Where a pointer is, in the original image's pixels, kept inside the image. */
  function imagePoint(e) {
    const det = state.det;
    const r = det.img.getBoundingClientRect();
    return {
      x: clamp(((e.clientX - r.left) / r.width) * det.W, 0, det.W),
      y: clamp(((e.clientY - r.top) / r.height) * det.H, 0, det.H),
    };
  }

  function screenScale() {
    const det = state.det;
    const r = det.img.getBoundingClientRect();
    return r.width / det.W;
  }

  function findBox(id) {
    return state.det.boxes.find((b) => b.id === id) || null;
  }

  function rectBetween(a, b) {
    return { left: Math.min(a.x, b.x), top: Math.min(a.y, b.y), width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y) };
  }

  function onPointerDown(e) {
    const det = state.det;
    if (!det || !det.ready || state.busy) return;
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    const p = imagePoint(e);
    const handle = e.target.closest('.handle');
    const boxEl = e.target.closest('.box');
    const box = boxEl ? findBox(Number(boxEl.dataset.id)) : null;
    if (box && handle) {
      const c = handle.dataset.handle; // the dragged corner; the opposite one stays put
      const anchor = {
        x: c.includes('w') ? box.left + box.width : box.left,
        y: c.includes('n') ? box.top + box.height : box.top,
      };
      det.drag = { kind: 'resize', id: box.id, anchor };
      select(box.id);
    } else if (box) {
      det.drag = { kind: 'move', id: box.id, start: p, orig: { left: box.left, top: box.top } };
      select(box.id);
    } else {
      det.drag = { kind: 'draw', id: null, start: p };
    }
    e.preventDefault();
    det.stage.focus({ preventScroll: true });
    try { det.stage.setPointerCapture(e.pointerId); } catch { /* synthetic events */ }
  }

  function onPointerMove(e) {
    const det = state.det;
    if (!det || !det.drag || !det.ready) return;
    const d = det.drag;
    const p = imagePoint(e);
    if (d.kind === 'draw') {
      const r = rectBetween(d.start, p);
      const s = screenScale();
      if (d.id === null) {
        if (r.width * s < MIN_BOX_SCREEN_PX && r.height * s < MIN_BOX_SCREEN_PX) return;
        const box = { id: det.nextId++, label: det.labels[det.current] || '', ...r };
        det.boxes.push(box);
        d.id = box.id;
        det.selected = box.id;
      }
      Object.assign(findBox(d.id), r);
    } else if (d.kind === 'move') {
      const box = findBox(d.id);
      if (!box) return;
      box.left = clamp(d.orig.left + (p.x - d.start.x), 0, det.W - box.width);
      box.top = clamp(d.orig.top + (p.y - d.start.y), 0, det.H - box.height);
    } else if (d.kind === 'resize') {
      const box = findBox(d.id);
      if (!box) return;
      const r = rectBetween(d.anchor, p);
      Object.assign(box, { left: r.left, top: r.top, width: Math.max(r.width, 1), height: Math.max(r.height, 1) });
      box.left = Math.min(box.left, det.W - box.width);
      box.top = Math.min(box.top, det.H - box.height);
    }
    syncBoxes();
  }

  function onPointerUp() {
    const det = state.det;
    if (!det || !det.drag) return;
    const d = det.drag;
    det.drag = null;
    if (d.kind === 'draw') {
      const box = d.id === null ? null : findBox(d.id);
      const s = det.ready ? screenScale() : 1;
      if (!box) {
        select(null); // a click on the image
        return;
      }
      if (box.width * s < MIN_BOX_SCREEN_PX || box.height * s < MIN_BOX_SCREEN_PX) {
        removeBox(box.id);
        return;
      }
      announce(`Box ${det.boxes.indexOf(box) + 1} drawn: ${box.label}.`);
    }
    syncBoxes();
  }

  function select(id) {
    const det = state.det;
    det.selected = id;
    syncBoxes();
  }

  function removeBox(id) {
    const det = state.det;
    det.boxes = det.boxes.filter((b) => b.id !== id);
    if (det.selected === id) det.selected = null;
    syncBoxes();
  }

  /** Deletes a box; the selection and the focus go to its neighbour in the list, or to the image. */
  function deleteBox(id) {
    const det = state.det;
    const index = det.boxes.findIndex((b) => b.id === id);
    if (index < 0 || state.busy) return;
    const active = document.activeElement;
    const focusWasInList = det.list.contains(active);
    const n = index + 1;
    removeBox(id);
    const next = det.boxes[Math.min(index, det.boxes.length - 1)];
    if (next) det.selected = next.id;
    syncBoxes();
    if (focusWasInList || active === document.body || !document.contains(active)) {
      if (next) det.rows.get(next.id).focus();
      else det.stage.focus();
    }
    announce(`Box ${n} deleted. ${det.boxes.length} left.`);
  }

  function addBoxByKeyboard() {
    const det = state.det;
    if (!det || !det.ready || state.busy) return;
    const width = Math.max(1, Math.round(det.W / 3));
    const height = Math.max(1, Math.round(det.H / 3));
    const box = { id: det.nextId++, label: det.labels[det.current] || '', left: (det.W - width) / 2,
      top: (det.H - height) / 2, width, height };
    det.boxes.push(box);
    det.selected = box.id;
    syncBoxes();
    det.rows.get(box.id).focus();
    announce(`Box ${det.boxes.length} added: ${box.label}. Arrow keys move it, Shift+arrows resize it.`);
  }

  /** Arrow keys: move the selected box, or with Shift resize it, by about 1% of the image. */
  function nudge(key, resize) {
    const det = state.det;
    const box = findBox(det.selected);
    if (!box || !det.ready) return;
    const sx = Math.max(1, Math.round(det.W / 100));
    const sy = Math.max(1, Math.round(det.H / 100));
    const dx = key === 'ArrowLeft' ? -sx : key === 'ArrowRight' ? sx : 0;
    const dy = key === 'ArrowUp' ? -sy : key === 'ArrowDown' ? sy : 0;
    if (resize) {
      box.width = clamp(box.width + dx, 1, det.W - box.left);
      box.height = clamp(box.height + dy, 1, det.H - box.top);
    } else {
      box.left = clamp(box.left + dx, 0, det.W - box.width);
      box.top = clamp(box.top + dy, 0, det.H - box.height);
    }
    syncBoxes();
  }

  /** A box in the original image's whole pixels, inside the image and at least 1 x 1. */
  function pixelBox(box) {
    const { W, H } = state.det;
    const left = clamp(Math.round(box.left), 0, W - 1);
    const top = clamp(Math.round(box.top), 0, H - 1);
    const right = clamp(Math.round(box.left + box.width), left + 1, W);
    const bottom = clamp(Math.round(box.top + box.height), top + 1, H);
    return { label: box.label, left, top, width: right - left, height: bottom - top };
  }

  function describe(box, n) {
    const p = pixelBox(box);
    return `Box ${n}: ${box.label}, left ${p.left}, top ${p.top}, ${p.width} by ${p.height} pixels`;
  }

  /** Brings the boxes on the image and the rows of the list in line with det.boxes (elements kept). */
  function syncBoxes() {
    const det = state.det;
    if (!det) return;
    const live = new Set(det.boxes.map((b) => b.id));
    const shownHeight = det.img ? det.img.getBoundingClientRect().height : 0;
    for (const [id, node] of det.els) if (!live.has(id)) { node.remove(); det.els.delete(id); }
    for (const [id, node] of det.rows) if (!live.has(id)) { node.remove(); det.rows.delete(id); }
    det.boxes.forEach((box, i) => {
      const n = i + 1;
      const [color, ink] = boxColor(box.label);
      let node = det.els.get(box.id);
      if (!node) {
        node = h('div', { class: 'box', 'data-id': box.id, 'aria-hidden': 'true' },
          h('span', { class: 'tag' }),
          ...['nw', 'ne', 'sw', 'se'].map((c) => h('span', { class: `handle ${c}`, 'data-handle': c })));
        det.els.set(box.id, node);
        det.layer.append(node); // boxes are only ever added at the end, so the order stays the list's
      }
      if (det.W > 0) {
        node.style.left = `${(box.left / det.W) * 100}%`;
        node.style.top = `${(box.top / det.H) * 100}%`;
        node.style.width = `${(box.width / det.W) * 100}%`;
        node.style.height = `${(box.height / det.H) * 100}%`;
      }
      node.style.setProperty('--c', color);
      node.style.setProperty('--ink', ink);
      node.classList.toggle('selected', box.id === det.selected);
      node.classList.toggle('tag-inside', det.H > 0 && (box.top / det.H) * shownHeight < 20);
      node.firstChild.textContent = `${n} ${box.label}`;

      let row = det.rows.get(box.id);
      if (!row) {
        row = makeRow(box);
        det.list.append(row); // never moved afterwards: moving a focused row would drop its focus
      }
      const p = pixelBox(box);
      row.setAttribute('aria-label', describe(box, n));
      row.classList.toggle('selected', box.id === det.selected);
      row.style.setProperty('--c', color);
      row.querySelector('.box-num').textContent = String(n);
      const sel = row.querySelector('select');
      if (sel.value !== box.label) sel.value = box.label;
      sel.setAttribute('aria-label', `Class of box ${n}`);
      row.querySelector('.box-pos').textContent = `${p.left}, ${p.top} · ${p.width}×${p.height}`;
      row.querySelector('.delete').setAttribute('aria-label', `Delete box ${n}`);
    });
    det.stage.classList.toggle('drawing', Boolean(det.drag));
    const count = det.boxes.length;
    document.querySelector('.box-count').textContent = `(${count})`;
    document.querySelector('.empty-boxes').hidden = count > 0;
    updateDetectionControls();
  }

  function makeRow(box) {
    const det = state.det;
    const sel = h('select', { class: 'box-class' },
      ...det.labels.map((label) => h('option', { value: label, text: label })));
    sel.value = box.label;
    sel.addEventListener('change', () => {
      const b = findBox(box.id);
      if (b) { b.label = sel.value; syncBoxes(); }
    });
    const del = h('button', { type: 'button', class: 'delete secondary small', onclick: () => deleteBox(box.id) },
      h('span', { 'aria-hidden': 'true', text: '✕' }), ' Delete');
    const row = h('li', { class: 'box-row', tabindex: '0', 'data-id': box.id },
      h('span', { class: 'swatch', 'aria-hidden': 'true' }),
      h('span', { class: 'box-num', 'aria-hidden': 'true' }),
      sel,
      h('span', { class: 'box-pos', 'aria-hidden': 'true' }),
      del);
    row.addEventListener('focusin', () => { if (det.selected !== box.id) select(box.id); });
    row.addEventListener('click', () => { if (det.selected !== box.id) select(box.id); });
    det.rows.set(box.id, row);
    return row;
  }

  function submitBoxes() {
    const det = state.det;
    if (state.mode !== 'detect' || !det || !det.ready || state.busy) return;
    const boxes = det.boxes.map(pixelBox);
    const n = boxes.length;
    submit({
      boundingBox: { boundingBoxes: boxes, inputImageProperties: { width: det.W, height: det.H } },
    }, n === 0 ? 'no objects' : `${n} ${n === 1 ? 'box' : 'boxes'}`);
  }

  // ---------------------------------------------------------------- keys

  function onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (!state.task || $('view-task').hidden) return;
    const t = e.target;
    const tag = t && t.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (t && t.isContentEditable)) return;
    const key = e.key;
    if (/^[1-9]$/.test(key)) {
      e.preventDefault();
      if (state.mode === 'classify') chooseClass(Number(key) - 1);
      else if (state.mode === 'detect') setCurrentClass(Number(key) - 1);
      return;
    }
    if (key === 's' || key === 'S') {
      e.preventDefault();
      skip();
      return;
    }
    if (state.mode !== 'detect' || !state.det) return;
    const onControl = tag === 'BUTTON' || tag === 'A' || tag === 'SUMMARY';
    if (key === 'Enter' && !onControl) {
      e.preventDefault();
      submitBoxes();
    } else if ((key === 'Delete' || key === 'Backspace') && state.det.selected !== null) {
      e.preventDefault();
      deleteBox(state.det.selected);
    } else if (key === 'Escape' && state.det.selected !== null) {
      select(null);
    } else if (key.startsWith('Arrow') && state.det.selected !== null) {
      e.preventDefault();
      nudge(key, e.shiftKey);
    }
  }

  // ---------------------------------------------------------------- start

  async function start() {
    document.addEventListener('keydown', onKey);
    $('change-job').addEventListener('click', changeJob);
    try {
      const resp = await fetch('config.json', { cache: 'no-store' });
      if (!resp.ok) throw new Error(String(resp.status));
      state.config = await resp.json();
    } catch {
      showMessage('This page is not set up', 'Its config.json could not be read.');
      return;
    }
    state.config.apiBase = String(state.config.apiBase || '/api').replace(/\/+$/, '');
    state.config.auth = state.config.auth || { kind: 'local' };
    const session = state.config.auth.kind === 'cognito' ? await signInCognito() : await signInLocal();
    if (!session) return;
    state.session = session;
    state.signedOut = false;
    const who = session.email || session.workerId;
    $('who').textContent = who ? `Signed in as ${who}` : '';
    loadJobs();
  }

  start();
})();
