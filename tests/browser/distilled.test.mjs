// A step-distilled model served beside the site: the page offers the steps it was distilled
// for (`info.distilled_steps`' first, 8) instead of the teacher's 20, and generates with them on
// the CPU fallback. The model is made here by the release CLI: a transformer over latents
// trained for two steps, then two steps of step distillation from itself, on 64 px renders
// of the catalog (a few seconds; its pictures are noise, its layers are the point).
//
// Run by `make test` (node --test tests/browser/); needs `make web` and the release CLI.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, serveSite, openSite, submit } from './support.mjs';

let scratch;
let site;
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'designer-distilled-'));
  const designer = (...args) => execFileSync(join(root, 'target/release/designer'), args,
    { cwd: scratch, stdio: ['ignore', 'ignore', 'pipe'] });
  const data = join(scratch, 'data');
  designer('scenes', '--catalog', join(root, '.cache/catalog'), '--count', '8', '--size', '64',
    '--out', data);
  const run = ['--size', '64', '--data', data, '--epochs', '1', '--steps-per-epoch', '2',
    '--batch-size', '2'];
  const teacher = join(scratch, 'teacher.weights');
  designer('train', '--network', 'dit-latent', '--base-channels', '64', ...run, '--out', teacher);
  designer('train', '--objective', 'steps', '--teacher', teacher, '--init', teacher, ...run,
    '--out', join(scratch, 'student.weights'));
});
after(() => {
  site?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('offers a step-distilled model its few steps and generates with them', async () => {
  site = await serveSite({ weights: 'student.weights' },
    { 'student.weights': join(scratch, 'student.weights') });
  const { browser, page } = await openSite(site.base, { webgpu: false });
  try {
    assert.equal(await page.getAttribute('body', 'data-weights'), 'download');
    const steps = await page.inputValue('#steps');
    assert.equal(steps, '8', 'the distilled model\u2019s default, not the page\u2019s 20');
    await submit(page, { room_type: 'bedroom', style: 'modern', variations: 2, seed: 7, steps, size: 64 });
    const widths = await page.$$eval('#results figure img', (imgs) => imgs.map((img) => img.naturalWidth));
    assert.deepEqual(widths, [64, 64]);
  } finally {
    await browser.close();
  }
});
