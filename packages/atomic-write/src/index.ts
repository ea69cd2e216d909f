export { replaceFileAtomic, syncDirectory, tempSiblingPath, writeFileAtomic } from './atomic-write';
