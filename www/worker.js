// The generator runs here, off the page's thread, so the page never freezes.
import init, { Designer } from './pkg/designer_web.js';

let designer = null;

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'create') {
      await init();
      const started = performance.now();
      // data.weights: a model the page downloaded beside the wasm; otherwise the built-in one.
      const options = { backend: data.backend || 'auto' };
      if (data.weights) options.weights = data.weights;
      designer = await Designer.create(options);
      self.postMessage({
        type: 'ready', backend: designer.backend, reason: designer.reason,
        model: designer.model, info: designer.info(),
        loadMs: Math.round(performance.now() - started),
      });
    } else if (data.type === 'generate') {
      // `part`: which run of the request's variations this worker draws (the page splits them).
      const { id, part } = data;
      const onProgress = (done, total) => self.postMessage({ type: 'progress', id, part, done, total });
      const response = await designer.generate(data.request, onProgress);
      self.postMessage({ type: 'result', id, part, response });
    }
  } catch (error) {
    self.postMessage({
      type: 'error', id: data.id, part: data.part, message: String(error && error.message || error),
      field: error && error.field, status: error && error.status,
    });
  }
};
