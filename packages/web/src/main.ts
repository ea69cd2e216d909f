import { startPageBackend, type PageBackendInfo } from './backend';
import { scheduleFromUrl } from './demo/schedule';
import { mountDemo } from './demo/view';
import { mountScore } from './score/view';

const params = new URLSearchParams(location.search);
const backendLine = document.getElementById('backend')!;

// Started once, on first use by either tab: the backend must be chosen before any tensor exists.
let backend: Promise<PageBackendInfo> | undefined;
function ensureBackend(): Promise<string> {
  backend ??= startPageBackend(params.get('backend') ?? 'auto').then((info) => {
    backendLine.textContent = info.line;
    document.body.dataset.backend = info.backend;
    return info;
  });
  return backend.then((i) => i.backend);
}

const tabs = { score: document.getElementById('tab-score')!, demo: document.getElementById('tab-demo')! };
const panels = { score: document.getElementById('panel-score')!, demo: document.getElementById('panel-demo')! };
function show(name: 'score' | 'demo'): void {
  for (const k of ['score', 'demo'] as const) {
    tabs[k].setAttribute('aria-selected', String(k === name));
    panels[k].hidden = k !== name;
  }
}
tabs.score.addEventListener('click', () => show('score'));
tabs.demo.addEventListener('click', () => show('demo'));

function fail(panel: HTMLElement, err: unknown): void {
  const box = document.createElement('div');
  box.className = 'error';
  box.textContent = (err as Error).message;
  panel.prepend(box);
}

try {
  mountScore(panels.score, { bundleUrl: params.get('bundle'), backend: ensureBackend });
} catch (err) {
  fail(panels.score, err);
}
try {
  mountDemo(panels.demo, scheduleFromUrl(params), ensureBackend, params.get('autorun') === '1');
} catch (err) {
  fail(panels.demo, err);
}
show(params.get('tab') === 'demo' ? 'demo' : 'score');
ensureBackend().catch((err) => {
  backendLine.textContent = `tfjs backend: ${(err as Error).message}`;
  backendLine.className = 'error';
});
document.body.dataset.ready = '1';
