import {
  DEFAULT_CONFIG_YAML,
  loadRatchetConfig,
  parseRatchetConfig,
  type RatchetConfig,
} from './ratchet-config';
import { parseEnv, requireServiceEnv, type ServiceEnv } from './env';

/**
 * Everything a ratchet process is configured with, parsed once at startup: the environment
 * and the YAML config file. Nest modules inject this class; libraries receive the parts they
 * need through their constructors.
 */
export class AppConfig {
  constructor(
    readonly env: ServiceEnv,
    readonly config: RatchetConfig,
    /** Where the config came from, for logs. */
    readonly configSource: string,
  ) {}

  static fromEnvironment(source: Record<string, string | undefined> = process.env): AppConfig {
    const env = requireServiceEnv(parseEnv(source));
    if (env.RATCHET_CONFIG) {
      return new AppConfig(env, loadRatchetConfig(env.RATCHET_CONFIG, source), env.RATCHET_CONFIG);
    }
    return new AppConfig(
      env,
      parseRatchetConfig(DEFAULT_CONFIG_YAML, '(built-in default config)', source),
      '(built-in default config)',
    );
  }
}
