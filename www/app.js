// The page: a form for the request, a worker that generates, a grid of results.
// Every URL is relative, so the site works from any sub-path of any static host.

const $ = (id) => document.getElementById(id);
const form = $('request');
const status = $('status');
const progress = $('progress');
const errorBox = $('error');
const results = $('results');

const params = new URLSearchParams(location.search);
// How far "Finer on the server" may move from the design: half-way keeps the layout and
// redraws the detail.
const FINER_STRENGTH = 0.5;
// The generator runs in Web Workers, off the page's thread. WebGPU gets one (the GPU is one
// device); the CPU fallback splits the variations over one worker per core
// (`navigator.hardwareConcurrency`, or `?workers=N`), each with its own wasm instance, so no
// SharedArrayBuffer and no COOP/COEP headers are needed. Design i's seed is seed + i whichever
// worker draws it, so the split changes no pixel.
const newWorker = () => new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
const workers = [newWorker()];
const wantedWorkers = Math.max(1, Math.min(16, Number(params.get('workers')) || navigator.hardwareConcurrency || 1));
let config = { lambdaUrl: '' };
let backend = '';
let nextId = 1;
// The request of each generation in flight, by id, for captions and file names.
const pending = new Map();

const humanise = (name) => name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

function fillSelect(select, names, chosen) {
  select.replaceChildren(...names.map((name) => new Option(humanise(name), name, false, name === chosen)));
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  progress.hidden = true;
  $('generate').disabled = false;
}

/** The generator did not start: the message, Generate kept off, and a retry where it can help. */
function showStartFailure(what, message, canRetry) {
  status.textContent = what;
  showError(message);
  $('generate').disabled = true;
  $('retry').hidden = !canRetry;
}

/** A request that was not made: the message where the designs would be, the form ready. */
function showRefusal(message) {
  results.replaceChildren();
  delete results.dataset.elapsedMs;
  status.textContent = 'Nothing generated: fix the field below and try again.';
  showError(message);
}

// The request's ranges, from the model's own `info` (the core's limits), once it is ready.
let limits = { variations: [1, 64], steps: [1, 100], size: [32, 256] };
// The size the model was trained at: larger designs are drawn there first, then redrawn at
// their own size (the core's second stage), which the page leaves to the server.
let trainedSize = 256;
// Seeds travel as JavaScript numbers, which hold whole numbers exactly only up to 2^53 - 1
// (the core takes up to 2^64 - 1): the page offers what it can carry.
const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** The form's request, or the first field's problem in words. */
function request() {
  const whole = (id, label, [low, high]) => {
    const text = $(id).value.trim();
    const value = /^\d+$/.test(text) ? BigInt(text) : null;
    if (value === null || value < BigInt(low) || value > BigInt(high)) {
      throw new Error(`${label} must be a whole number from ${low} to ${high}`);
    }
    return Number(value);
  };
  const variations = whole('variations', 'Variations', limits.variations);
  const seed = whole('seed', 'Seed', [0, MAX_SEED]);
  // In BigInt: 2^53 - 1 + 2 is not a JavaScript number, and rounds back under the limit.
  if (BigInt(seed) + BigInt(variations) - 1n > BigInt(MAX_SEED)) {
    throw new Error(`Seed plus variations must stay at most ${MAX_SEED}: the last design's seed is seed + variations - 1`);
  }
  const req = {
    room_type: $('room_type').value,
    style: $('style').value,
    variations,
    seed,
    steps: whole('steps', 'Steps', limits.steps),
    size: Number($('size').value),
  };
  // The photo goes to the worker on this device, and is checked there by the core.
  if (photo) Object.assign(req, { photo, strength: Number($('strength').value) });
  return req;
}

// The chosen photo of the visitor's room, as a data URL; null for plain designs.
let photo = null;

function choosePhoto(file) {
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    photo = reader.result;
    $('photo-preview').src = photo;
    $('photo-preview').hidden = false;
    $('photo-clear').hidden = false;
    $('photo-strength').hidden = false;
    status.textContent = `Photo chosen: ${file.name}. Generate to restyle it.`;
  };
  reader.onerror = () => showError(`Could not read ${file.name}: ${reader.error}`);
  reader.readAsDataURL(file);
}

for (const input of [$('photo'), $('camera')]) {
  input.addEventListener('change', () => choosePhoto(input.files[0]));
}
$('photo-clear').addEventListener('click', () => {
  photo = null;
  for (const id of ['photo-preview', 'photo-clear', 'photo-strength']) $(id).hidden = true;
  $('photo').value = '';
  $('camera').value = '';
});
const dropZone = $('photo-field');
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('dragging');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('dragging');
  choosePhoto(event.dataTransfer.files[0]);
});

/** The design over its photo: a slider uncovers one or the other. */
function beforeAfter(img, photoUrl) {
  const frame = document.createElement('div');
  frame.className = 'compare';
  const before = document.createElement('div');
  before.className = 'before';
  before.style.backgroundImage = `url("${photoUrl}")`;
  const slider = document.createElement('input');
  slider.type = 'range';
  slider.min = '0';
  slider.max = '100';
  slider.value = '50';
  slider.setAttribute('aria-label', 'Before and after: how much of the photo to show');
  const show = () => { before.style.clipPath = `inset(0 ${100 - Number(slider.value)}% 0 0)`; };
  slider.addEventListener('input', show);
  show();
  frame.append(img, before, slider);
  return frame;
}

function figure(design, req) {
  const fig = document.createElement('figure');
  const img = new Image(design.width, design.height);
  img.src = `data:image/png;base64,${design.png_base64}`;
  img.alt = `${humanise(req.room_type)} in ${humanise(req.style)} style, seed ${design.seed}`;
  const caption = document.createElement('figcaption');
  const link = document.createElement('a');
  link.href = img.src;
  link.download = `${req.room_type}-${req.style}-${design.seed}.png`;
  link.textContent = `Seed ${design.seed}: download PNG`;
  caption.append(link);
  // Twice the size must be a size the server takes (512 px for the 256 px default).
  if (config.lambdaUrl && req.size * 2 <= limits.size[1]) {
    const finer = document.createElement('button');
    finer.type = 'button';
    finer.textContent = 'Finer on the server';
    finer.title = 'This design at twice the size, redrawn on the Lambda (by its model for that size)';
    finer.addEventListener('click', () => server(design.seed, req, fig, finer));
    caption.append(finer);
  }
  fig.append(req.photo ? beforeAfter(img, req.photo) : img, caption);
  return fig;
}

async function server(seed, req, fig, button) {
  button.disabled = true;
  button.textContent = 'Asking the server\u2026';
  try {
    // Past the model's trained size the server draws the same request at that size first,
    // which is this very design, and redraws it at twice the size. Below it, the design itself
    // is the starting photo: the server keeps its colours and composition (the sampler starts
    // from it, noised) and redraws it at twice the size, where the finer model takes over.
    const img = fig.querySelector('img');
    const size = req.size * 2;
    const body = size > trainedSize
      ? { ...req, variations: 1, seed, size }
      : { ...req, variations: 1, seed, size, photo: img.src, strength: FINER_STRENGTH, keep: 'colours' };
    const answer = await fetch(config.lambdaUrl, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const json = await answer.json();
    if (!answer.ok) throw new Error(json.message || `the server answered ${answer.status}`);
    const design = json.designs[0];
    img.src = `data:image/png;base64,${design.png_base64}`;
    fig.querySelector('a').href = img.src;
    button.textContent = `Server: ${design.width} px, ${json.elapsed_ms} ms`;
  } catch (error) {
    button.disabled = false;
    button.textContent = 'Finer on the server';
    showError(`The server could not make it: ${error.message}`);
  }
}

/**
 * The CPU fallback's other workers, started with the same model: beside the first where the
 * page knows the core will run on the CPU (see `start`), else once the first says so. Resolves
 * once each has started or failed.
 */
let helpersStarted = null;
function startHelpers(weights) {
  helpersStarted ??= Promise.all(
    Array.from({ length: Math.min(wantedWorkers, limits.variations[1]) - 1 }, () => new Promise((settled) => {
      const helper = newWorker();
      helper.onmessage = ({ data }) => {
        if (data.type === 'ready') {
          workers.push(helper);
          helper.onmessage = ({ data: message }) => onWork(message);
        } else if (data.type === 'error') {
          // A helper that cannot start (memory, say) only makes generation slower.
          console.warn(`a CPU worker did not start: ${data.message}`);
          helper.terminate();
        }
        settled();
      };
      helper.postMessage({ type: 'create', backend: 'cpu', weights });
    })));
  return helpersStarted;
}

let readyText = '';
function ready() {
  // Since navigation started: what bench's measure.mjs reports as the page's time to ready.
  document.body.dataset.readyMs = Math.round(performance.now());
  document.body.dataset.workers = workers.length;
  const pool = workers.length > 1 ? `, ${workers.length} workers` : '';
  status.textContent = readyText.replace(/\.$/, `${pool}.`);
  document.body.dataset.backend = backend;
  $('generate').disabled = false;
}

workers[0].onmessage = ({ data }) => {
  if (data.type === 'ready') {
    backend = data.backend;
    // The labels this model was trained on (`info.room_types` and `styles` are every label the
    // build knows: a model trained on fewer refuses the rest).
    const { vocabulary } = data.info.weights.model;
    fillSelect($('room_type'), vocabulary.room_types, 'bedroom');
    fillSelect($('style'), vocabulary.styles, 'scandinavian');
    limits = data.info.limits;
    $('variations').max = limits.variations[1];
    $('seed').max = MAX_SEED;
    // A step-distilled model samples in a few steps, which the form then offers (the core's
    // default for it; the 20 in the page is the teacher's).
    if (data.info.distilled_steps) $('steps').value = data.info.distilled_steps[0];
    // Sizes up to the one the model was trained at, that by default (larger ones are the
    // server's: "Finer on the server").
    const trained = data.info.weights.image_size;
    trainedSize = trained;
    const sizes = [32, 64, 128, 256].filter((s) => s >= limits.size[0] && s <= Math.min(limits.size[1], trained));
    $('size').replaceChildren(...sizes.map((s) => new Option(String(s), String(s), false, s === trained)));
    document.body.dataset.weights = weightsSource.from;
    const from = { 'built-in': '', cache: ' (from this device\u2019s cache)', download: ' (downloaded)' }[weightsSource.from];
    readyText = `Ready on ${backend === 'webgpu' ? 'your GPU (WebGPU)' : 'your CPU'}: ${data.reason}. Model ${data.model}${from}.`;
    if (backend === 'cpu') {
      status.textContent = 'Starting a worker per core\u2026';
      startHelpers(modelBytes).then(ready);
    } else {
      ready();
    }
  } else if (data.type === 'error' && data.id === undefined) {
    // Weights the core refuses are not kept: the retry downloads them again.
    if (weightsSource.url) weightsCache().then((cache) => cache && cache.delete(weightsSource.url));
    showStartFailure('The generator could not start.', data.message, Boolean(weightsSource.url));
  } else {
    onWork(data);
  }
};

/** Progress, parts of results and refusals from any worker, for the request they belong to. */
function onWork(data) {
  const job = pending.get(data.id);
  if (!job) return; // a request already refused by another part
  if (data.type === 'progress') {
    job.done[data.part] = data.done;
    job.total[data.part] = data.total;
    progress.max = job.total.reduce((a, b) => a + b, 0) || 1;
    progress.value = job.done.reduce((a, b) => a + b, 0);
  } else if (data.type === 'result') {
    job.responses[data.part] = data.response;
    if (job.responses.filter(Boolean).length < job.responses.length) return;
    pending.delete(data.id);
    const { req } = job;
    const designs = job.responses.flatMap((response) => response.designs);
    const used = job.responses[0].photo;
    // Wall time on the page, from the request to its last part.
    const elapsed = Math.round(performance.now() - job.started);
    results.replaceChildren(...designs.map((design) => figure(design, req)));
    results.dataset.elapsedMs = elapsed;
    const from = used
      ? ` from your photo (${used.width} x ${used.height}, ${used.fit}), keeping its ${used.keep === 'both' ? 'layout and colours' : used.keep}`
      : '';
    const pool = job.responses.length > 1 ? ` (${job.responses.length} workers)` : '';
    status.textContent = `${designs.length} design${designs.length === 1 ? '' : 's'} in ${elapsed} ms on ${backend}${pool}${from}.`;
    progress.hidden = true;
    $('generate').disabled = false;
  } else if (data.type === 'error') {
    pending.delete(data.id);
    showRefusal(data.message);
  }
}


form.addEventListener('submit', (event) => {
  event.preventDefault();
  let req;
  try {
    req = request();
  } catch (error) {
    showRefusal(error.message);
    return;
  }
  const id = nextId++;
  // The variations in consecutive runs, one per worker: part j starts at its first design's seed.
  const parts = Math.min(workers.length, req.variations);
  const job = {
    req, started: performance.now(),
    done: Array(parts).fill(0), total: Array(parts).fill(0), responses: Array(parts).fill(null),
  };
  pending.set(id, job);
  errorBox.hidden = true;
  progress.value = 0;
  progress.hidden = false;
  $('generate').disabled = true;
  status.textContent = 'Generating\u2026';
  let first = 0;
  for (let part = 0; part < parts; part++) {
    const variations = Math.floor(req.variations / parts) + (part < req.variations % parts ? 1 : 0);
    workers[part].postMessage({ type: 'generate', id, part, request: { ...req, seed: req.seed + first, variations } });
    first += variations;
  }
});

$('dice').addEventListener('click', () => {
  $('seed').value = Math.floor(Math.random() * 1_000_000);
});

// The model: the one built into the wasm, or `config.weights` (a URL, relative to the site)
// when the site serves a larger one beside it. Downloaded once with a progress bar into the
// Cache API, keyed by its URL, so a second visit starts without the network: name the file by
// its model version, since a cached file is never asked for again.
const WEIGHTS_CACHE = 'designer-weights-v1';
const mb = (bytes) => (bytes / 1e6).toFixed(1);

async function weightsCache() {
  // Only secure contexts (https, localhost) have the Cache API: elsewhere every visit downloads.
  return self.caches ? caches.open(WEIGHTS_CACHE) : null;
}

async function downloadWeights(url) {
  const answer = await fetch(url);
  if (!answer.ok) throw new Error(`the server answered ${answer.status} ${answer.statusText}`.trim());
  const total = Number(answer.headers.get('content-length')) || 0;
  const reader = answer.body.getReader();
  const parts = [];
  let received = 0;
  progress.max = total || 1;
  progress.value = 0;
  progress.hidden = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    progress.value = Math.min(received, progress.max);
    status.textContent = `Downloading the model: ${mb(received)}${total ? ` of ${mb(total)}` : ''} MB\u2026`;
  }
  progress.hidden = true;
  if (total && received !== total) throw new Error(`the download stopped at ${mb(received)} of ${mb(total)} MB`);
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  // Cached only once whole and read to the end: a cut-off download leaves nothing behind.
  const cache = await weightsCache();
  if (cache) await cache.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
  return bytes;
}

/** The downloaded model's bytes, or null for the built-in one. */
let modelBytes = null;

/** Where the model comes from: `built-in`, `cache` or `download`, and its URL if any. */
let weightsSource = { from: 'built-in', url: null };

async function start() {
  $('retry').hidden = true;
  errorBox.hidden = true;
  let weights = null;
  if (config.weights) {
    const url = new URL(config.weights, location.href).href;
    try {
      const cache = await weightsCache();
      const hit = cache && (await cache.match(url));
      weights = hit ? new Uint8Array(await hit.arrayBuffer()) : await downloadWeights(url);
      weightsSource = { from: hit ? 'cache' : 'download', url };
    } catch (error) {
      showStartFailure('The model could not be downloaded.',
        `Could not download the model (${url}): ${error.message}. Check the connection and try again.`, true);
      return;
    }
    status.textContent = 'Starting the generator\u2026';
  }
  // Kept (not transferred) for the CPU fallback's other workers, which each get a copy.
  modelBytes = weights;
  const asked = params.get('backend') || 'auto';
  workers[0].postMessage({ type: 'create', backend: asked, weights });
  // With no WebGPU adapter to be had, the core runs on the CPU: the other workers then start
  // beside the first instead of after it (ready on a warm cache in about 0.8 s instead of 1.05
  // on 2 cores; BENCHMARKS.md).
  helpersStarted = null;
  const cpu = asked === 'cpu' || (asked === 'auto' && !(await navigator.gpu?.requestAdapter().catch(() => null)));
  if (cpu) startHelpers(weights);
}

$('retry').addEventListener('click', start);

fetch('config.json')
  .then((answer) => (answer.ok ? answer.json() : {}))
  .catch(() => ({}))
  .then((loaded) => { config = { ...config, ...loaded }; })
  .finally(start);
