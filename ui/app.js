// kapsel's dashboard: plain JavaScript over the Docker API of the same origin.
//
// Every call sends `Authorization: Bearer <token>` when the user signed in with a token (kept in
// sessionStorage, so it lives as long as the tab). Logs are read as a stream and Docker's
// multiplexed framing is decoded here; stats come one JSON document per line and are drawn on
// <canvas> charts. Everything that shows server data builds DOM nodes with textContent, never
// HTML strings.
'use strict';

(() => {
  const TOKEN_KEY = 'kapsel.token';
  const POLL_MS = 2000;
  const SLOW_POLL_MS = 10000;
  const LOG_LINES_KEPT = 2000;
  const CHART_POINTS = 60;

  const $ = (id) => document.getElementById(id);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    signedIn: false,
    containers: [],
    selected: null, // container id
    selectedState: '',
    armedRemove: null, // id whose Remove button awaits confirmation
    armedTimer: 0,
    logsAbort: null,
    statsAbort: null,
    pollTimer: 0,
    slowTimer: 0,
    busy: new Set(), // ids with an action in flight
  };

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (state.token) h.Authorization = 'Bearer ' + state.token;
    return h;
  }

  async function errorOf(response) {
    let message = response.status + ' ' + response.statusText;
    try {
      const text = await response.text();
      try {
        const body = JSON.parse(text);
        if (body && typeof body.message === 'string') message = body.message;
      } catch (_) {
        if (text.trim()) message = text.trim();
      }
    } catch (_) { /* keep the status line */ }
    return new ApiError(response.status, message);
  }

  /** Calls the API; JSON in and out; throws ApiError with the server's message. */
  async function api(method, path, options) {
    const opts = options || {};
    const init = { method, headers: headers(), signal: opts.signal };
    if (opts.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'cannot reach kapsel: ' + e.message);
    }
    if (!response.ok) throw await errorOf(response);
    if (opts.raw) return response;
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    return s ? '?' + s : '';
  }

  const enc = encodeURIComponent;

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, '');
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function showError(message) {
    $('error-text').textContent = message;
    $('error').hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
    $('error-text').textContent = '';
  }

  /** Runs an action; a failure shows the API's message in the banner. */
  async function attempt(fn) {
    try {
      const result = await fn();
      return result;
    } catch (e) {
      if (e.name === 'AbortError') return undefined;
      if (e.status === 401) {
        signOut('Your token was refused: ' + e.message);
        return undefined;
      }
      showError(e.message);
      return undefined;
    }
  }

  // ---------------------------------------------------------------- formatting

  function bytes(n) {
    if (n === undefined || n === null || isNaN(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let v = Number(n);
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return (i === 0 ? v.toFixed(0) : v < 10 ? v.toFixed(1) : v.toFixed(0)) + ' ' + units[i];
  }

  function cpus(nano) {
    const v = Number(nano) / 1e9;
    return (Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2).replace(/0$/, '')) + ' CPU' + (v === 1 ? '' : 's');
  }

  function ago(seconds) {
    if (!seconds) return '';
    const s = Math.max(0, Math.floor(Date.now() / 1000 - seconds));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400 * 2) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' days ago';
  }

  function agoIso(text) {
    const t = Date.parse(text);
    return isNaN(t) ? '' : ago(t / 1000);
  }

  function shortId(id) {
    return String(id || '').replace(/^sha256:/, '').slice(0, 12);
  }

  function containerName(c) {
    return ((c.Names && c.Names[0]) || shortId(c.Id)).replace(/^\//, '');
  }

  function portsText(c) {
    const seen = new Set();
    for (const p of c.Ports || []) {
      const inner = p.PrivatePort + '/' + (p.Type || 'tcp');
      const text = p.PublicPort ? (p.IP && p.IP !== '0.0.0.0' && p.IP !== '::' ? p.IP + ':' : '') +
        p.PublicPort + '→' + inner : inner;
      seen.add(text);
    }
    return Array.from(seen).join('\n');
  }

  // ---------------------------------------------------------------- parsing the run form

  /** Splits a command line into words as a POSIX shell would (quotes and backslashes). */
  function shellWords(line) {
    const words = [];
    let word = '';
    let inWord = false;
    let i = 0;
    while (i < line.length) {
      const ch = line[i];
      if (ch === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new Error('the command has an unclosed single quote');
        word += line.slice(i + 1, end);
        inWord = true;
        i = end + 1;
      } else if (ch === '"') {
        i++;
        let closed = false;
        while (i < line.length) {
          const c = line[i];
          if (c === '"') {
            closed = true;
            i++;
            break;
          }
          if (c === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1])) {
            word += line[i + 1];
            i += 2;
          } else {
            word += c;
            i++;
          }
        }
        if (!closed) throw new Error('the command has an unclosed double quote');
        inWord = true;
      } else if (ch === '\\') {
        if (i + 1 < line.length) word += line[i + 1];
        inWord = true;
        i += 2;
      } else if (/\s/.test(ch)) {
        if (inWord) words.push(word);
        word = '';
        inWord = false;
        i++;
      } else {
        word += ch;
        inWord = true;
        i++;
      }
    }
    if (inWord) words.push(word);
    return words;
  }

  /** `256m`, `1g`, `512MiB`, `1048576` → bytes. */
  function parseMemory(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(text);
    if (!m) throw new Error('memory must look like 256m, 1g or a number of bytes, not "' + text + '"');
    const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()];
    return Math.round(parseFloat(m[1]) * mult);
  }

  /** `8080:80, 127.0.0.1:5353:53/udp, 9000` → ExposedPorts and PortBindings. */
  function parsePorts(text) {
    const exposed = {};
    const bindings = {};
    for (const raw of text.split(/[,\s]+/).filter(Boolean)) {
      const [spec, proto = 'tcp'] = raw.split('/');
      if (!/^(tcp|udp|sctp)$/.test(proto)) throw new Error('unknown protocol in port "' + raw + '"');
      const parts = spec.split(':');
      let ip = '';
      let host = '';
      let inner;
      if (parts.length === 1) inner = parts[0];
      else if (parts.length === 2) [host, inner] = parts;
      else if (parts.length === 3) [ip, host, inner] = parts;
      else throw new Error('a port is [ip:]host:container[/proto], not "' + raw + '"');
      const isPort = (p) => /^\d+$/.test(p) && Number(p) > 0 && Number(p) < 65536;
      if (!isPort(inner) || (host && !isPort(host))) {
        throw new Error('a port is [ip:]host:container[/proto], not "' + raw + '"');
      }
      const key = inner + '/' + proto;
      exposed[key] = {};
      (bindings[key] = bindings[key] || []).push({ HostIp: ip, HostPort: host });
    }
    return { exposed, bindings };
  }

  function parseEnv(text) {
    const env = [];
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#')) continue;
      if (!/^[^=\s]+=/.test(t) && !/^[^=\s]+$/.test(t)) {
        throw new Error('environment lines are NAME=value, not "' + t + '"');
      }
      env.push(t);
    }
    return env;
  }

  // ---------------------------------------------------------------- sign in

  async function signIn(token) {
    state.token = token;
    try {
      const tenant = await api('GET', '/kapsel/v1/tenant');
      return tenant;
    } catch (e) {
      state.token = '';
      throw e;
    }
  }

  function showLogin(message) {
    $('app').hidden = true;
    $('login').hidden = false;
    $('logout').hidden = true;
    $('who').textContent = '';
    const err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('token').focus();
  }

  function enterApp(tenant) {
    state.signedIn = true;
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    $('logout').textContent = state.token ? 'Sign out' : 'Use a token';
    renderWho(tenant);
    renderQuota(tenant);
    refreshAll();
    schedule();
  }

  function renderWho(tenant) {
    const who = $('who');
    who.textContent = '';
    if (!tenant) return;
    const admin = tenant.id === 'default';
    who.append(admin ? 'admin' : 'tenant ', admin ? '' : el('strong', { text: tenant.name }));
    if (!state.token) who.append(el('span', { class: 'muted', text: ' (this listener needs no token)' }));
    $('tenant-name').textContent = admin ? '' : '· ' + tenant.name;
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = '';
    state.signedIn = false;
    stopPolling();
    closeDetail();
    clearError();
    showLogin(message);
  }

  async function start() {
    cpuChart = new Chart('cpu-chart', { color: '#1f6feb', floor: 5, format: (v) => v.toFixed(1) + ' %' });
    memChart = new Chart('mem-chart', { color: '#8250df', floor: 1024 * 1024, format: bytes });
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = $('token').value.trim();
      if (!token) return;
      const button = $('login-submit');
      button.disabled = true;
      try {
        const tenant = await signIn(token);
        sessionStorage.setItem(TOKEN_KEY, token);
        $('token').value = '';
        enterApp(tenant);
      } catch (e) {
        showLogin(e.status === 401 ? 'That token was refused: ' + e.message : e.message);
      } finally {
        button.disabled = false;
      }
    });
    $('logout').addEventListener('click', () => signOut(''));
    $('error-close').addEventListener('click', clearError);
    $('refresh').addEventListener('click', () => refreshAll());
    $('filters').addEventListener('submit', (ev) => ev.preventDefault());
    $('filter-state').addEventListener('change', () => refreshContainers());
    let filterTimer = 0;
    for (const id of ['filter-name', 'filter-image']) {
      $(id).addEventListener('input', () => {
        clearTimeout(filterTimer);
        filterTimer = setTimeout(refreshContainers, 250);
      });
    }
    $('run-form').addEventListener('submit', runContainer);
    $('detail-close').addEventListener('click', closeDetail);
    $('logs-clear').addEventListener('click', () => { $('logs').textContent = ''; });
    $('logs-reload').addEventListener('click', () => { if (state.selected) openLogs(state.selected); });
    document.addEventListener('visibilitychange', () => {
      if (!state.signedIn) return;
      if (document.hidden) stopPolling();
      else {
        refreshAll();
        schedule();
      }
    });

    // Signed in before (this tab), or a listener that needs no token: go straight in.
    try {
      const tenant = await signIn(state.token);
      enterApp(tenant);
    } catch (e) {
      const hadToken = !!sessionStorage.getItem(TOKEN_KEY);
      sessionStorage.removeItem(TOKEN_KEY);
      if (e.status === 401) showLogin(hadToken ? 'Your token was refused: ' + e.message : '');
      else showLogin(e.message);
    }
  }

  // ---------------------------------------------------------------- polling

  function schedule() {
    stopPolling();
    state.pollTimer = setInterval(() => { refreshContainers(); }, POLL_MS);
    state.slowTimer = setInterval(() => { refreshQuota(); refreshImages(); refreshVolumes(); }, SLOW_POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    clearInterval(state.slowTimer);
  }

  function refreshAll() {
    refreshContainers();
    refreshQuota();
    refreshImages();
    refreshVolumes();
  }

  // ---------------------------------------------------------------- quota

  async function refreshQuota() {
    const tenant = await attempt(() => api('GET', '/kapsel/v1/tenant'));
    if (tenant) {
      renderWho(tenant);
      renderQuota(tenant);
    }
  }

  function renderQuota(tenant) {
    const box = $('quota');
    box.textContent = '';
    if (!tenant) return;
    const q = tenant.quotas || {};
    const u = tenant.usage || {};
    const rows = [
      ['Containers', u.containers, q.max_containers, String],
      ['Running', u.running, q.max_running, String],
      ['Memory limits', u.memory_bytes, q.memory_bytes, bytes],
      ['CPU limits', u.nano_cpus, q.nano_cpus, cpus],
      ['Volumes', u.volumes, q.max_volumes, String],
      ['Image storage', u.storage_bytes, q.storage_bytes, bytes],
    ];
    for (const [label, used, limit, fmt] of rows) {
      const has = limit !== undefined && limit !== null;
      const ratio = has && limit > 0 ? Math.min(1, (used || 0) / limit) : 0;
      const bar = el('div', { class: 'bar' + (has ? '' : ' unlimited'), role: 'presentation' }, el('span'));
      bar.firstChild.style.width = (ratio * 100).toFixed(1) + '%';
      if (ratio >= 0.9) bar.classList.add('full');
      else if (ratio >= 0.7) bar.classList.add('high');
      box.append(el('div', { class: 'quota-item', dataset: { testid: 'quota-item', quota: label } },
        el('div', { class: 'quota-label', text: label }),
        el('div', { class: 'quota-value' }, fmt(used || 0), el('span', { class: 'muted', text: has ? ' / ' + fmt(limit) : ' · no limit' })),
        bar));
    }
    const rate = q.requests_per_second;
    if (rate) box.append(el('div', { class: 'quota-item' }, el('div', { class: 'quota-label', text: 'API rate' }),
      el('div', { class: 'quota-value', text: rate + ' req/s' })));
  }

  // ---------------------------------------------------------------- containers

  function filters() {
    const f = {};
    const status = $('filter-state').value;
    const name = $('filter-name').value.trim();
    const image = $('filter-image').value.trim();
    if (status) f.status = [status];
    if (name) f.name = [name];
    if (image) f.ancestor = [image];
    return f;
  }

  let containersSeq = 0;
  async function refreshContainers() {
    const seq = ++containersSeq;
    const f = filters();
    const q = { all: 1 };
    if (Object.keys(f).length) q.filters = JSON.stringify(f);
    const list = await attempt(() => api('GET', '/containers/json' + query(q)));
    if (!list || seq !== containersSeq) return;
    list.sort((a, b) => b.Created - a.Created || containerName(a).localeCompare(containerName(b)));
    state.containers = list;
    renderContainers();
    syncDetail();
  }

  function stateClass(s) {
    return { running: 'ok', paused: 'warn', restarting: 'warn', created: 'info', exited: 'off', dead: 'bad', removing: 'off' }[s] || 'off';
  }

  function renderContainers() {
    const body = $('containers');
    const rows = [];
    for (const c of state.containers) {
      const name = containerName(c);
      const s = c.State;
      const busy = state.busy.has(c.Id);
      const live = s === 'running' || s === 'paused' || s === 'restarting';
      const action = (label, testid, fn, enabled, cls, aria) => el('button', {
        type: 'button', class: cls || 'secondary small', dataset: { testid },
        disabled: busy || !enabled, 'aria-label': (aria || label) + ' ' + name, onclick: fn,
      }, label);
      const armed = state.armedRemove === c.Id;
      const row = el('tr', {
        dataset: { testid: 'container-row', name, id: c.Id, state: s },
        class: c.Id === state.selected ? 'selected' : '',
      },
      el('td', {}, el('button', {
        type: 'button', class: 'link name', dataset: { testid: 'container-open' },
        title: 'Logs and stats of ' + name, onclick: () => openDetail(c.Id),
      }, name), el('div', { class: 'muted mono', text: shortId(c.Id) })),
      el('td', { class: 'cmd' }, el('div', { class: 'mono', text: c.Image }),
        el('div', { class: 'mono muted', text: c.Command, title: c.Command })),
      el('td', {}, el('span', { class: 'badge ' + stateClass(s), dataset: { testid: 'container-state' }, text: s }),
        el('div', { class: 'muted', text: c.Status, title: 'Created ' + ago(c.Created) })),
      el('td', { class: 'mono ports', text: portsText(c) }),
      el('td', { class: 'actions' }, el('div', {},
        action('Start', 'container-start', () => act(c.Id, 'start'), !live),
        action('Stop', 'container-stop', () => act(c.Id, 'stop'), live),
        action('Restart', 'container-restart', () => act(c.Id, 'restart'), true),
        action(armed ? 'Confirm remove' : 'Remove', 'container-remove', () => removeContainer(c.Id), true,
          armed ? 'danger small' : 'secondary small'),
        action('Logs', 'container-detail', () => openDetail(c.Id), true, '', 'Logs and stats of'))));
      rows.push(row);
    }
    body.replaceChildren(...rows);
    $('containers-empty').hidden = rows.length > 0;
  }

  async function act(id, verb) {
    state.busy.add(id);
    renderContainers();
    await attempt(async () => {
      await api('POST', '/containers/' + enc(id) + '/' + verb);
      clearError();
      if (id === state.selected && verb !== 'stop') {
        // A (re)started container writes a new log: read it from the start again.
        openLogs(id);
      }
    });
    state.busy.delete(id);
    await refreshContainers();
    refreshQuota();
  }

  async function removeContainer(id) {
    if (state.armedRemove !== id) {
      state.armedRemove = id;
      clearTimeout(state.armedTimer);
      state.armedTimer = setTimeout(() => { state.armedRemove = null; renderContainers(); }, 4000);
      renderContainers();
      return;
    }
    state.armedRemove = null;
    clearTimeout(state.armedTimer);
    state.busy.add(id);
    renderContainers();
    await attempt(async () => {
      await api('DELETE', '/containers/' + enc(id) + query({ force: 1 }));
      clearError();
      if (state.selected === id) closeDetail();
    });
    state.busy.delete(id);
    await refreshContainers();
    refreshQuota();
    refreshVolumes();
  }

  // ---------------------------------------------------------------- run form

  async function runContainer(ev) {
    ev.preventDefault();
    const err = $('run-error');
    const ok = $('run-result');
    err.hidden = true;
    ok.hidden = true;
    let body;
    let name;
    try {
      const image = $('run-image').value.trim();
      if (!image) throw new Error('name an image to run');
      name = $('run-name').value.trim();
      body = { Image: image, Tty: false, OpenStdin: false, AttachStdout: false, AttachStderr: false, HostConfig: {} };
      const command = $('run-command').value.trim();
      if (command) body.Cmd = shellWords(command);
      const env = parseEnv($('run-env').value);
      if (env.length) body.Env = env;
      const ports = $('run-ports').value.trim();
      if (ports) {
        const { exposed, bindings } = parsePorts(ports);
        body.ExposedPorts = exposed;
        body.HostConfig.PortBindings = bindings;
      }
      const memory = $('run-memory').value.trim();
      if (memory) body.HostConfig.Memory = parseMemory(memory);
      const cpu = $('run-cpus').value.trim();
      if (cpu) {
        const n = Number(cpu);
        if (!(n > 0)) throw new Error('CPUs must be a positive number such as 0.5');
        body.HostConfig.NanoCpus = Math.round(n * 1e9);
      }
      const restart = $('run-restart').value;
      if (restart !== 'no') body.HostConfig.RestartPolicy = { Name: restart };
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      return;
    }
    const button = $('run-submit');
    button.disabled = true;
    button.textContent = 'Starting…';
    try {
      const created = await api('POST', '/containers/create' + query({ name }), { body });
      try {
        await api('POST', '/containers/' + enc(created.Id) + '/start');
      } catch (e) {
        e.message = 'created ' + shortId(created.Id) + ' but could not start it: ' + e.message;
        throw e;
      }
      ok.textContent = 'Started ' + (name || shortId(created.Id)) +
        (created.Warnings && created.Warnings.length ? ' (' + created.Warnings.join('; ') + ')' : '');
      ok.hidden = false;
      clearError();
      await refreshContainers();
      openDetail(created.Id);
      refreshQuota();
      refreshVolumes();
    } catch (e) {
      if (e.status === 401) signOut('Your token was refused: ' + e.message);
      err.textContent = e.message;
      err.hidden = false;
      refreshContainers();
    } finally {
      button.disabled = false;
      button.textContent = 'Run';
    }
  }

  // ---------------------------------------------------------------- images and volumes

  async function refreshImages() {
    const list = await attempt(() => api('GET', '/images/json'));
    if (!list) return;
    list.sort((a, b) => b.Created - a.Created);
    const rows = [];
    const names = [];
    for (const img of list) {
      const tags = (img.RepoTags || []).filter((t) => t && t !== '<none>:<none>');
      for (const t of tags) names.push(t);
      const tag = tags[0] || '<none>';
      rows.push(el('tr', { dataset: { testid: 'image-row', tag } },
        el('td', {}, tags.length ? el('button', {
          type: 'button', class: 'link mono', title: 'Run ' + tag,
          onclick: () => { $('run-image').value = tag; $('run-image').focus(); },
        }, tags.join(', ')) : el('span', { class: 'muted', text: '<none>' })),
        el('td', { class: 'mono', text: shortId(img.Id) }),
        el('td', { text: bytes(img.Size) }),
        el('td', { class: 'muted', text: ago(img.Created) })));
    }
    $('images').replaceChildren(...rows);
    $('images-empty').hidden = rows.length > 0;
    $('image-names').replaceChildren(...names.map((n) => el('option', { value: n })));
  }

  async function refreshVolumes() {
    const reply = await attempt(() => api('GET', '/volumes'));
    if (!reply) return;
    const list = (reply.Volumes || []).slice().sort((a, b) => a.Name.localeCompare(b.Name));
    const rows = list.map((v) => el('tr', { dataset: { testid: 'volume-row', name: v.Name } },
      el('td', { class: 'mono name-cell', title: v.Name, text: v.Name.length > 28 ? v.Name.slice(0, 12) + '…' : v.Name }),
      el('td', { text: v.Driver }),
      el('td', { class: 'muted', text: agoIso(v.CreatedAt) })));
    $('volumes').replaceChildren(...rows);
    $('volumes-empty').hidden = rows.length > 0;
  }

  // ---------------------------------------------------------------- detail: logs and stats

  // Made in start(), once Chart's methods exist.
  let cpuChart = null;
  let memChart = null;

  function openDetail(id) {
    const c = state.containers.find((x) => x.Id === id);
    state.selected = id;
    state.selectedState = c ? c.State : '';
    $('detail').hidden = false;
    $('detail-name').textContent = c ? containerName(c) : shortId(id);
    renderDetailState(c);
    renderContainers();
    cpuChart.reset();
    memChart.reset();
    $('cpu-value').textContent = '–';
    $('mem-value').textContent = '–';
    $('mem-limit').textContent = '';
    openLogs(id);
    openStats(id);
    $('detail').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  function closeDetail() {
    if (state.logsAbort) state.logsAbort.abort();
    if (state.statsAbort) state.statsAbort.abort();
    state.logsAbort = state.statsAbort = null;
    state.selected = null;
    $('detail').hidden = true;
    $('logs').textContent = '';
    if (state.signedIn) renderContainers();
  }

  function renderDetailState(c) {
    const badge = $('detail-state');
    const s = c ? c.State : 'gone';
    badge.textContent = c ? c.Status || s : 'removed';
    badge.className = 'badge ' + stateClass(s);
    badge.dataset.state = s;
  }

  /** Keeps the detail panel in step with the list: a container that came back up gets its new log. */
  function syncDetail() {
    if (!state.selected) return;
    const c = state.containers.find((x) => x.Id === state.selected);
    if (!c && !$('filter-state').value && !$('filter-name').value && !$('filter-image').value) {
      renderDetailState(null);
      return;
    }
    if (!c) return;
    renderDetailState(c);
    const was = state.selectedState;
    state.selectedState = c.State;
    if (c.State === 'running' && was !== 'running' && was !== '' && !state.logsAbort) openLogs(c.Id);
  }

  /** Reads a multiplexed (or raw, for a TTY) log stream as it comes. */
  async function openLogs(id) {
    if (state.logsAbort) state.logsAbort.abort();
    const abort = new AbortController();
    state.logsAbort = abort;
    const pre = $('logs');
    pre.textContent = '';
    const status = $('logs-status');
    status.textContent = 'connecting…';
    status.dataset.state = 'connecting';
    try {
      const response = await api('GET', '/containers/' + enc(id) + '/logs' +
        query({ stdout: 1, stderr: 1, follow: 1, tail: 500 }), { raw: true, signal: abort.signal });
      const multiplexed = (response.headers.get('Content-Type') || '').includes('multiplexed');
      status.textContent = 'following';
      status.dataset.state = 'following';
      const reader = response.body.getReader();
      const decoders = [new TextDecoder(), new TextDecoder(), new TextDecoder()];
      const partial = ['', '', ''];
      let buffer = new Uint8Array(0);
      const emit = (stream, chunk, flush) => {
        const text = partial[stream] + decoders[stream].decode(chunk, { stream: !flush });
        const lines = text.split('\n');
        partial[stream] = flush ? '' : lines.pop();
        appendLines(pre, lines.filter((l, i) => !(flush && i === lines.length - 1 && l === '')), stream === 2);
      };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (!multiplexed) {
          emit(1, value, false);
          continue;
        }
        const joined = new Uint8Array(buffer.length + value.length);
        joined.set(buffer);
        joined.set(value, buffer.length);
        let offset = 0;
        while (joined.length - offset >= 8) {
          const stream = joined[offset];
          const size = ((joined[offset + 4] << 24) >>> 0) + (joined[offset + 5] << 16) + (joined[offset + 6] << 8) + joined[offset + 7];
          if (joined.length - offset - 8 < size) break;
          emit(stream === 2 ? 2 : 1, joined.subarray(offset + 8, offset + 8 + size), false);
          offset += 8 + size;
        }
        buffer = joined.slice(offset);
      }
      emit(1, new Uint8Array(0), true);
      emit(2, new Uint8Array(0), true);
      if (state.logsAbort === abort) {
        status.textContent = 'ended (the container is not running)';
        status.dataset.state = 'ended';
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = 'error: ' + e.message;
      status.dataset.state = 'error';
      if (e.status === 401) signOut('Your token was refused: ' + e.message);
    } finally {
      if (state.logsAbort === abort) state.logsAbort = null;
    }
  }

  function appendLines(pre, lines, stderr) {
    if (!lines.length) return;
    const frag = document.createDocumentFragment();
    for (const line of lines) {
      frag.append(el('span', { class: stderr ? 'stderr line' : 'line', text: line + '\n' }));
    }
    pre.append(frag);
    while (pre.childNodes.length > LOG_LINES_KEPT) pre.firstChild.remove();
    if ($('logs-scroll').checked) pre.scrollTop = pre.scrollHeight;
  }

  /** The CPU use of one sample, as the docker CLI computes it. */
  function cpuPercent(s) {
    const cpu = s.cpu_stats || {};
    const pre = s.precpu_stats || {};
    if (!cpu.system_cpu_usage || !pre.system_cpu_usage) return null;
    const cpuDelta = ((cpu.cpu_usage || {}).total_usage || 0) - ((pre.cpu_usage || {}).total_usage || 0);
    const systemDelta = cpu.system_cpu_usage - pre.system_cpu_usage;
    const online = cpu.online_cpus || ((cpu.cpu_usage || {}).percpu_usage || []).length || 1;
    if (systemDelta <= 0 || cpuDelta < 0) return 0;
    return (cpuDelta / systemDelta) * online * 100;
  }

  /** Memory in use, less the page cache the kernel can drop (as the docker CLI shows it). */
  function memoryUsed(s) {
    const m = s.memory_stats || {};
    if (!m.usage) return null;
    const st = m.stats || {};
    if (st.total_inactive_file !== undefined && st.total_inactive_file < m.usage) return m.usage - st.total_inactive_file;
    if (st.inactive_file !== undefined && st.inactive_file < m.usage) return m.usage - st.inactive_file;
    return m.usage;
  }

  async function openStats(id) {
    if (state.statsAbort) state.statsAbort.abort();
    const abort = new AbortController();
    state.statsAbort = abort;
    try {
      const response = await api('GET', '/containers/' + enc(id) + '/stats' + query({ stream: 1 }),
        { raw: true, signal: abort.signal });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) sample(JSON.parse(line));
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.status === 401) signOut('Your token was refused: ' + e.message);
      else if (e.status !== 404) showError('stats: ' + e.message);
    } finally {
      if (state.statsAbort === abort) state.statsAbort = null;
    }
  }

  function sample(s) {
    const cpu = cpuPercent(s);
    const mem = memoryUsed(s);
    cpuChart.push(cpu);
    memChart.push(mem);
    $('cpu-value').textContent = cpu === null ? '–' : cpu.toFixed(1) + ' %';
    $('mem-value').textContent = mem === null ? '–' : bytes(mem);
    const limit = (s.memory_stats || {}).limit;
    $('mem-limit').textContent = limit ? 'of ' + bytes(limit) : '';
  }

  // ---------------------------------------------------------------- charts

  /** A small line chart of the last CHART_POINTS samples on a <canvas>; null is a gap. */
  function Chart(canvasId, options) {
    this.canvas = document.getElementById(canvasId);
    this.options = options;
    this.points = [];
    this.samples = 0;
    const redraw = () => this.draw();
    if (window.ResizeObserver) new ResizeObserver(redraw).observe(this.canvas);
    this.draw();
  }

  Chart.prototype.reset = function () {
    this.points = [];
    this.samples = 0;
    this.canvas.dataset.samples = '0';
    this.draw();
  };

  Chart.prototype.push = function (v) {
    this.points.push(v);
    if (this.points.length > CHART_POINTS) this.points.shift();
    if (v !== null) this.samples++;
    this.canvas.dataset.samples = String(this.samples);
    this.draw();
  };

  Chart.prototype.draw = function () {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(120, c.clientWidth || c.width);
    const h = Math.max(60, c.clientHeight || c.height);
    if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
      c.width = Math.round(w * ratio);
      c.height = Math.round(h * ratio);
    }
    const g = c.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const values = this.points.filter((v) => v !== null);
    const max = Math.max(this.options.floor, ...values) * 1.15;
    const top = 14;
    const bottom = h - 4;
    const y = (v) => bottom - (v / max) * (bottom - top);
    const x = (i) => w - (this.points.length - 1 - i) * (w / (CHART_POINTS - 1));
    g.strokeStyle = 'rgba(127,127,127,0.25)';
    g.lineWidth = 1;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = 'rgba(110,110,110,0.9)';
    for (const f of [0.5, 1]) {
      const yy = Math.round(y(max * f / 1.15)) + 0.5;
      g.beginPath();
      g.moveTo(0, yy);
      g.lineTo(w, yy);
      g.stroke();
      g.fillText(this.options.format(max * f / 1.15), 4, yy - 3);
    }
    if (!values.length) {
      g.fillText('waiting for samples…', w / 2 - 50, h / 2 + 4);
      return;
    }
    // One path per run of non-null points: a stopped container leaves a gap.
    let run = [];
    const flush = () => {
      if (!run.length) return;
      g.beginPath();
      g.moveTo(x(run[0]), bottom);
      for (const i of run) g.lineTo(x(i), y(this.points[i]));
      g.lineTo(x(run[run.length - 1]), bottom);
      g.closePath();
      g.globalAlpha = 0.15;
      g.fillStyle = this.options.color;
      g.fill();
      g.globalAlpha = 1;
      g.beginPath();
      run.forEach((i, k) => (k ? g.lineTo(x(i), y(this.points[i])) : g.moveTo(x(i), y(this.points[i]))));
      g.strokeStyle = this.options.color;
      g.lineWidth = 2;
      g.stroke();
      run = [];
    };
    this.points.forEach((v, i) => {
      if (v === null) flush();
      else run.push(i);
    });
    flush();
  };

  // Exposed for the browser tests and the curious: the parsers the run form uses.
  window.kapselUi = { shellWords, parsePorts, parseMemory, parseEnv, cpuPercent, memoryUsed };

  start();
})();
