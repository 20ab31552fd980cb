#!/usr/bin/env node
// Entry point of the `densekit` command: runs the compiled CLI.
import '../dist/cli/main.js';
