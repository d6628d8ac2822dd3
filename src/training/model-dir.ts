/**
 * Writes a model directory (`model.onnx` + `manifest.json`) the way the repository likes to see
 * it change: built completely under `<name>.tmp` (ignored by the watcher), then renamed into place,
 * so a serving repository never loads half a model. The manifest gets the ONNX file's sha256.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE, MANIFEST_SCHEMA, parseManifest, type ModelManifest } from '../inference/manifest.ts';

export type ManifestDraft = Omit<ModelManifest, 'schema' | 'onnx'> & { onnx?: Partial<ModelManifest['onnx']> };

export interface WrittenModel {
  dir: string;
  manifest: ModelManifest;
  bytes: number;
}

export function writeModelDir(root: string, draft: ManifestDraft, onnx: Uint8Array, extraFiles: Record<string, string | Uint8Array> = {}): WrittenModel {
  const file = draft.onnx?.file ?? 'model.onnx';
  const manifest: ModelManifest = {
    schema: MANIFEST_SCHEMA,
    ...draft,
    onnx: { producer: 'flowcast', ...draft.onnx, file, sha256: createHash('sha256').update(onnx).digest('hex') },
  } as ModelManifest;
  const dir = join(root, draft.name);
  parseManifest(JSON.parse(JSON.stringify(manifest)), join(dir, MANIFEST_FILE));
  mkdirSync(root, { recursive: true });
  const tmp = join(root, `${draft.name}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeFileSync(join(tmp, file), onnx);
  writeFileSync(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  for (const [name, content] of Object.entries(extraFiles)) writeFileSync(join(tmp, name), content);
  if (existsSync(dir)) {
    const old = join(root, `.${draft.name}.old-${process.pid}`);
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } else renameSync(tmp, dir);
  return { dir, manifest, bytes: onnx.length };
}
