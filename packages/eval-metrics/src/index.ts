export { auroc } from './auroc';
