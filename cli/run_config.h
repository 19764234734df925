/* The config of a resumed run, shared by search and train. */
#ifndef TSEDARTS_CLI_RUN_CONFIG_H
#define TSEDARTS_CLI_RUN_CONFIG_H

#include "args.h"

/* Reads DIR/config.json into config with parse (search_config_parse or
 * train_config_parse). Only how the run executes may change on resume, so
 * a flag that sets a config field, --budget or --out is refused. Returns 0,
 * or the exit code after printing why (1: unreadable, 2: bad flags). */
int cli_config_from_run(const args *a, const char *command, const char *dir,
                        td_status (*parse)(const char *json, void *config), void *config);

#endif
