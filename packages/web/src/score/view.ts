import * as tf from '@tensorflow/tfjs-core';
import { assessImages, BUNDLE_FILE, fetchBundle, gradCam, loadBundle, type GradCamResult, type GreyImage, type ModelBundle, type OodVerdict } from '@moco-cxr/model-bundle';
import { decodeImageInput } from '@moco-cxr/cxr-data/browser';
import { heatmapStats, overlayHeatmap } from './heatmap';

export interface ScoreOptions {
  /** `?bundle=/bundles/x/`: a bundle folder's URL, loaded at start. */
  bundleUrl: string | null;
  /** Starts the tfjs backend (once) and names it. */
  backend: () => Promise<string>;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** The bundle's files picked or dropped by the user, read by name (a folder's files arrive with their paths). */
function fileReader(files: readonly File[]) {
  const byName = new Map(files.map((f) => [f.name, f]));
  return async (name: string) => {
    const f = byName.get(name);
    if (!f) throw new Error(`not among the files given (${[...byName.keys()].join(', ') || 'none'}); give ${BUNDLE_FILE} and the weights file it names`);
    return new Uint8Array(await f.arrayBuffer());
  };
}

/** The Score tab: load a bundle, drop radiographs, see each task's probability, a Grad-CAM overlay and an out-of-distribution warning. */
export function mountScore(panel: HTMLElement, options: ScoreOptions): void {
  const status = h('p', { id: 'bundle-status', class: 'muted' }, 'No model bundle loaded.');
  const bundleError = h('div', { id: 'bundle-error', class: 'error', hidden: '' });
  const urlInput = h('input', { id: 'bundle-url', type: 'text', size: '40', placeholder: '/bundles/my-model/', value: options.bundleUrl ?? '' });
  const urlButton = h('button', { id: 'bundle-load', type: 'button' }, 'Load from URL');
  const bundleFiles = h('input', { id: 'bundle-files', type: 'file', multiple: '', accept: '.json,.safetensors' });
  const images = h('input', { id: 'image-files', type: 'file', multiple: '', accept: 'image/png,image/jpeg,.dcm,application/dicom' });
  const drop = h('div', { id: 'drop', class: 'drop' }, 'Drop radiographs here (PNG, JPEG, DICOM), or choose them: ', images);
  const results = h('div', { id: 'results', class: 'results' });
  const provenance = h('div', { id: 'bundle-provenance', class: 'muted' });
  panel.append(
    h('h2', {}, '1. A model bundle'),
    h('p', { class: 'muted' }, `A folder written by moco-cxr export-model (${BUNDLE_FILE} and its weights), served by this page's server under /bundles/, or picked from disk.`),
    h('div', { class: 'row' }, urlInput, urlButton, h('span', {}, 'or files:'), bundleFiles),
    status,
    bundleError,
    provenance,
    h('h2', {}, '2. Radiographs'),
    drop,
    results,
  );

  let bundle: ModelBundle | undefined;
  let loading: Promise<void> = Promise.resolve();
  const setBundle = (load: () => Promise<ModelBundle>, from: string) => {
    loading = (async () => {
      bundleError.hidden = true;
      status.textContent = `Loading ${from} ...`;
      panel.dataset.bundle = 'loading';
      try {
        await options.backend();
        const next = await load();
        bundle?.dispose();
        bundle = next;
        const m = next.manifest;
        status.textContent = `Loaded ${from}: ${m.backbone.name} at ${m.input.size} px, tasks ${m.tasks.join(', ')}.`;
        const auroc = Object.entries(m.provenance.testAuroc).map(([t, a]) => `${t} ${a.toFixed(3)}`).join(', ');
        provenance.textContent = `Trained on ${m.provenance.data}; test AUROC (${m.provenance.testLevel} level): ${auroc || 'not recorded'}; written ${m.provenance.createdAt}.`;
        panel.dataset.bundle = 'ready';
      } catch (err) {
        bundleError.textContent = (err as Error).message;
        bundleError.hidden = false;
        status.textContent = 'No model bundle loaded.';
        panel.dataset.bundle = 'failed';
      }
    })();
  };
  urlButton.addEventListener('click', () => {
    const url = urlInput.value.trim();
    if (url) setBundle(() => fetchBundle(url), url);
  });
  bundleFiles.addEventListener('change', () => {
    const files = [...(bundleFiles.files ?? [])];
    if (files.length) setBundle(() => loadBundle(fileReader(files), { source: 'the chosen files' }), files.map((f) => f.name).join(' + '));
  });
  if (options.bundleUrl) setBundle(() => fetchBundle(options.bundleUrl!), options.bundleUrl);

  // Images are scored one after another, in the order given.
  let queue: Promise<void> = Promise.resolve();
  const addImages = (files: readonly File[]) => {
    for (const file of files) {
      const card = h('div', { class: 'card', 'data-file': file.name, 'data-state': 'waiting' }, h('h3', {}, file.name));
      results.append(card);
      queue = queue.then(() => scoreOne(file, card));
    }
  };
  const scoreOne = async (file: File, card: HTMLElement) => {
    await loading;
    if (!bundle) {
      card.append(h('div', { class: 'error' }, 'Load a model bundle first.'));
      card.dataset.state = 'failed';
      return;
    }
    try {
      card.dataset.state = 'scoring';
      // PNG / JPEG through the browser's decoder with the Node decoders' grey weights, DICOM through cxr-data's own pipeline.
      const image = await decodeImageInput(file);
      // Probabilities and the out-of-distribution verdict from one forward pass, as moco-cxr evaluate --bundle computes them.
      const [{ probabilities: scores, ood: verdict }] = await assessImages(bundle, [image]);
      const top = bundle.tasks.reduce((a, t) => (scores[t] > scores[a] ? t : a), bundle.tasks[0]);
      const cam = await gradCam(bundle, image, top);
      renderCard(card, image, scores, verdict, cam);
      // Tensors held once this image is done: the bundle's weights only (the tests check it does not grow).
      card.dataset.tensors = String(tf.memory().numTensors);
      card.dataset.state = 'done';
    } catch (err) {
      card.append(h('div', { class: 'error' }, (err as Error).message));
      card.dataset.state = 'failed';
    }
  };
  images.addEventListener('change', () => addImages([...(images.files ?? [])]));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    addImages([...(e.dataTransfer?.files ?? [])]);
  });
}

function renderCard(card: HTMLElement, image: GreyImage, scores: Record<string, number>, verdict: OodVerdict, cam: GradCamResult): void {
  const stats = heatmapStats(cam, image);
  card.dataset.probabilities = JSON.stringify(scores);
  card.dataset.unlike = String(verdict.unlike);
  card.dataset.heatmap = JSON.stringify(stats);
  if (verdict.unlike) {
    card.append(h('div', { class: 'warning', role: 'alert' }, `This image looks unlike the images the model was trained on; its scores say little. ${verdict.reasons.join('; ')}.`));
  }
  const canvas = h('canvas');
  overlayHeatmap(canvas, image, cam);
  const note = stats.max > 0 ? `Grad-CAM for ${cam.task}, over the ${cam.width} x ${cam.height} centre crop the model sees.` : `Grad-CAM for ${cam.task}: nothing in this image raises its score (the map is zero everywhere).`;
  card.append(canvas, h('p', { class: 'muted' }, note));
  const table = h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'task'), h('th', {}, 'probability'))));
  const body = h('tbody');
  for (const [task, p] of Object.entries(scores)) {
    const bar = h('span', { class: 'bar', style: `width:${Math.round(p * 80)}px` });
    body.append(h('tr', { 'data-task': task, 'data-probability': String(p) }, h('td', {}, task), h('td', {}, p.toFixed(4), bar)));
  }
  table.append(body);
  card.append(table);
}
