/**
 * Writes a model directory (`model.onnx` + `manifest.json`) the way the repository likes to see
 * it change: built completely under `<name>.tmp` (ignored by the watcher), then renamed into place,
 * so a serving repository never loads half a model. The manifest gets the ONNX file's sha256. The
 * version it replaces and the new one are kept under models/.versions/NAME/ (src/inference/versions.ts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE, MANIFEST_SCHEMA, parseManifest, type ModelManifest } from '../inference/manifest.ts';
import { installModelFiles, keepCurrent, keepVersion } from '../inference/versions.ts';

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
  const files = new Map<string, Uint8Array>([[file, onnx], [MANIFEST_FILE, Buffer.from(JSON.stringify(manifest, null, 2) + '\n')]]);
  for (const [name, content] of Object.entries(extraFiles)) files.set(name, typeof content === 'string' ? Buffer.from(content) : content);
  // The version being replaced is kept first (models/.versions/NAME/vN, src/inference/versions.ts),
  // so `flowcast models rollback` can restore it; if it cannot be kept, nothing is replaced.
  keepCurrent(root, draft.name, 'replaced');
  installModelFiles(root, draft.name, files);
  keepVersion(root, draft.name, files, 'install');
  return { dir, manifest, bytes: onnx.length };
}
