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
const worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
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

/** A request that was not made: the message where the designs would be, the form ready. */
function showRefusal(message) {
  results.replaceChildren();
  delete results.dataset.elapsedMs;
  status.textContent = 'Nothing generated: fix the field below and try again.';
  showError(message);
}

// The request's ranges, from the model's own `info` (the core's limits), once it is ready.
let limits = { variations: [1, 64], steps: [1, 100] };
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
  if (config.lambdaUrl) {
    const finer = document.createElement('button');
    finer.type = 'button';
    finer.textContent = 'Finer on the server';
    finer.title = 'This design at twice the size, redrawn on the Lambda (its 128 px model from 128 px up)';
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
    // The design itself is the starting photo: the server keeps its colours and composition
    // (the sampler starts from it, noised) and redraws it at twice the size, where the finer
    // model takes over.
    const img = fig.querySelector('img');
    const size = Math.min(req.size * 2, 256);
    const body = {
      ...req, variations: 1, seed, size, photo: img.src, strength: FINER_STRENGTH, keep: 'colours',
    };
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

worker.onmessage = ({ data }) => {
  if (data.type === 'ready') {
    backend = data.backend;
    document.body.dataset.backend = backend;
    fillSelect($('room_type'), data.info.room_types, 'bedroom');
    fillSelect($('style'), data.info.styles, 'scandinavian');
    limits = data.info.limits;
    $('variations').max = limits.variations[1];
    $('seed').max = MAX_SEED;
    status.textContent = `Ready on ${backend === 'webgpu' ? 'your GPU (WebGPU)' : 'your CPU'}: ${data.reason}. Model ${data.model}.`;
    $('generate').disabled = false;
  } else if (data.type === 'progress') {
    progress.max = data.total;
    progress.value = data.done;
  } else if (data.type === 'result') {
    const req = pending.get(data.id);
    pending.delete(data.id);
    const { designs, elapsed_ms, photo: used } = data.response;
    results.replaceChildren(...designs.map((design) => figure(design, req)));
    results.dataset.elapsedMs = elapsed_ms;
    const from = used
      ? ` from your photo (${used.width} x ${used.height}, ${used.fit}), keeping its ${used.keep === 'both' ? 'layout and colours' : used.keep}`
      : '';
    status.textContent = `${designs.length} design${designs.length === 1 ? '' : 's'} in ${elapsed_ms} ms on ${backend}${from}.`;
    progress.hidden = true;
    $('generate').disabled = false;
  } else if (data.type === 'error') {
    pending.delete(data.id);
    if (data.id === undefined) {
      status.textContent = 'The generator could not start.';
      showError(data.message);
    } else {
      showRefusal(data.message);
    }
  }
};


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
  pending.set(id, req);
  errorBox.hidden = true;
  progress.value = 0;
  progress.hidden = false;
  $('generate').disabled = true;
  status.textContent = 'Generating\u2026';
  worker.postMessage({ type: 'generate', id, request: req });
});

$('dice').addEventListener('click', () => {
  $('seed').value = Math.floor(Math.random() * 1_000_000);
});

fetch('config.json')
  .then((answer) => (answer.ok ? answer.json() : {}))
  .catch(() => ({}))
  .then((loaded) => { config = { ...config, ...loaded }; })
  .finally(() => worker.postMessage({ type: 'create', backend: params.get('backend') || 'auto' }));
