"""What the stages share and the domain does not need: their Hydra schemas (config), their command line (cli) and
the runner that chains them for `make demo` (stages). `debtgpt/` imports none of it."""
