/* main.c - ferry: parse the command line, run the command, exit 0 done, 1 failed, 2 usage.
 *
 * Besides the commands of the table, a few spellings for the build and the shell:
 * `ferry --version`, `ferry --help` (as `ferry help`), `ferry --help-all` (every command's
 * help, for reading and help2man), `ferry --man` (the ferry(1) page in roff, which `make`
 * installs), `ferry --completion` (the bash completion script), and `ferry __names
 * hosts|vms` (names for the completion; silent, exit 1, when nothing answers).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/version.h"

/* `ferry __names hosts|vms [global options]`: one name a line. */
static int cli_names(int argc, char **argv)
{
	const char *what = argc > 2 ? argv[2] : "";
	char *sub[CLI_MAX_VALUES + 4];
	struct cli_args a;
	struct cli_conn c;
	struct cli_reply r;
	struct err e;
	int n = 0, rc = CLI_FAILED;

	if (strcmp(what, "hosts") && strcmp(what, "vms"))
		return CLI_USAGE;
	/* the global options that follow, parsed as for `ferry version` */
	sub[n++] = argv[0];
	sub[n++] = "version";
	for (int i = 3; i < argc && n < CLI_MAX_VALUES + 3; i++)
		sub[n++] = argv[i];
	if (cli_parse(n, sub, &a, &e) < 0 || cli_conn_setup(&c, &a, &e) < 0)
		return CLI_FAILED;
	if (cli_request(&c, "GET", !strcmp(what, "hosts") ? "/v1/hosts" : "/v1/vms", NULL, &r, &e) <
	    0)
		return CLI_FAILED;
	if (r.status == 200) {
		json_t *v = json_parse(r.body, r.len, &e);
		json_t *item;
		size_t i;

		json_array_foreach(json_get(v, what), i, item)
		{
			const char *s = json_string_value(json_get(item, "name"));

			if (s)
				printf("%s\n", s);
		}
		rc = v ? CLI_OK : CLI_FAILED;
		json_free(v);
	}
	cli_reply_free(&r);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli_args a;
	struct err e;

	cli_version = FERRY_VERSION;
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("ferry %s\n", FERRY_VERSION);
		return CLI_OK;
	}
	if (argc == 2 && !strcmp(argv[1], "--help-all")) {
		cli_help_full(stdout);
		return CLI_OK;
	}
	if (argc == 2 && !strcmp(argv[1], "--man")) {
		cli_man(stdout, FERRY_VERSION);
		return CLI_OK;
	}
	if (argc == 2 && !strcmp(argv[1], "--completion")) {
		cli_completion(stdout);
		return CLI_OK;
	}
	if (argc >= 2 && !strcmp(argv[1], "__names"))
		return cli_names(argc, argv);
	if (cli_parse(argc, argv, &a, &e) < 0) {
		char words[64];

		fprintf(stderr, "ferry: %s\n", e.msg);
		if (a.cmd) {
			cli_cmd_words(a.cmd, words, sizeof(words));
			fprintf(stderr, "See 'ferry help %s'.\n", words);
		} else {
			fprintf(stderr, "See 'ferry help'.\n");
		}
		return CLI_USAGE;
	}
	if (!a.cmd) {
		if (a.group) {
			cli_help_group(a.help ? stdout : stderr, a.group);
			return a.help ? CLI_OK : CLI_USAGE;
		}
		cli_help_all(a.help ? stdout : stderr);
		return a.help ? CLI_OK : CLI_USAGE;
	}
	if (a.help) {
		cli_help_cmd(stdout, a.cmd);
		return CLI_OK;
	}
	return a.cmd->run(&a);
}
