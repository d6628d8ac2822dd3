/**
 * Connects the server to the modules that produce predictions, alerts and backend health
 * (src/inference, src/analytics, src/compute), through the interfaces in plugins.ts.
 */
import type { ServerConfig } from './config.ts';
import type { ServerOptions } from './server.ts';

export async function loadPlugins(_cfg: ServerConfig): Promise<ServerOptions> {
  return {};
}
