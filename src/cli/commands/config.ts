import type { Command } from 'commander';
import { loadConfig, dumpConfig, resolveStage } from '../../config/index.js';
import { action } from '../run-action.js';

export function registerConfig(program: Command): void {
  const cmd = program.command('config').description('inspect configs');
  cmd
    .command('show')
    .description('print the effective config (bases merged, overrides applied, defaults filled)')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('--set <key=value...>', 'override a key after merging (repeatable)', collect, [])
    .option('--stage <name>', 'show one stage of a staged recipe')
    .action(
      action((opts: { config: string; set: string[]; stage?: string }) => {
        const loaded = loadConfig(opts.config, opts.set);
        process.stdout.write(dumpConfig(opts.stage ? resolveStage(loaded, opts.stage) : loaded.config));
      }),
    );
}

/** commander accumulator for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
