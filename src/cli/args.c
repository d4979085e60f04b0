/* args.c - ferry's command line parsed against the command table (table.c).
 *
 * The shape is `ferry [GLOBAL OPTIONS] GROUP COMMAND [ARGS] [OPTIONS]`, options anywhere
 * (before or after the words, as git and kubectl take them), `--opt VALUE` or
 * `--opt=VALUE`, `--` ending the options. Command words are case-insensitive like names.
 * An option is looked up in the command's options first, then in the global ones, so a
 * command may not reuse a global name. Every refusal is a message that names the word or
 * the option; main() prints it with a hint to `ferry help COMMAND` and exits 2.
 *
 * Two shapes beside it. A command flagged CLI_CMD_DASH takes PowerShell's spelling, the
 * seed's `ferry Move-VM -ComputerName VH01 -Name CL7`: once its word is read, a word that
 * starts with one dash is one of its parameters (or a global option: -Verbose), looked up
 * without regard to case, its value the next word or after a colon (-Name:CL7). A group
 * with a CLI_CMD_DEFAULT command runs it when no command of the group is named (`ferry
 * migrations --history`); a word after the group is then that group's command, and the
 * options read before it are checked again against it.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

void cli_cmd_words(const struct cli_cmd *c, char *out, size_t size)
{
	if (c->group && (c->flags & CLI_CMD_DEFAULT))
		snprintf(out, size, "%s", c->group);
	else if (c->group)
		snprintf(out, size, "%s %s", c->group, c->name);
	else
		snprintf(out, size, "%s", c->name);
}

static bool cli_is_group(const char *w)
{
	for (size_t i = 0; cli_groups[i]; i++)
		if (!strcasecmp(cli_groups[i], w))
			return true;
	return false;
}

const struct cli_cmd *cli_find(const char *group, const char *name)
{
	for (size_t i = 0; i < cli_ncommands; i++) {
		const struct cli_cmd *c = &cli_commands[i];

		if ((group == NULL) != (c->group == NULL))
			continue;
		if (group && strcasecmp(group, c->group))
			continue;
		if (!strcasecmp(name, c->name) || (c->alias && !strcasecmp(name, c->alias)))
			return c;
	}
	return NULL;
}

const struct cli_cmd *cli_group_default(const char *group)
{
	for (size_t i = 0; group && i < cli_ncommands; i++)
		if ((cli_commands[i].flags & CLI_CMD_DEFAULT) && cli_commands[i].group &&
		    !strcasecmp(cli_commands[i].group, group))
			return &cli_commands[i];
	return NULL;
}

const char *cli_opt_dash(const struct cli_cmd *c, const struct cli_opt *o)
{
	uintptr_t p = (uintptr_t)o, first = (uintptr_t)(c ? c->opts : NULL);

	/* by address: o is one of c's options, not a global one */
	if (c && (c->flags & CLI_CMD_DASH) && p >= first && p < first + sizeof(c->opts))
		return "-";
	return "--";
}

/* The option of opts named name (len bytes), or -1; nocase for a CLI_CMD_DASH command. */
static int cli_opt_index(const struct cli_opt *opts, const char *name, size_t len, bool nocase)
{
	int (*cmp)(const char *, const char *, size_t) = nocase ? strncasecmp : strncmp;

	for (int i = 0; opts[i].name; i++) {
		if (strlen(opts[i].name) == len && !cmp(opts[i].name, name, len))
			return i;
		if (opts[i].alias && strlen(opts[i].alias) == len && !cmp(opts[i].alias, name, len))
			return i;
	}
	return -1;
}

static int cli_store(struct cli_values *v, const struct cli_opt *o, const char *dash,
		     const char *value, struct err *e)
{
	if (v->n && !(o->flags & CLI_REPEAT))
		return err_set(e, "%s%s given twice", dash, o->name);
	if (v->n == CLI_MAX_VALUES)
		return err_set(e, "%s%s given more than %d times", dash, o->name, CLI_MAX_VALUES);
	v->v[v->n++] = value;
	return 0;
}

/* One option at argv[*i], spelled with ndash dashes (2: --name[=VALUE]; 1: a CLI_CMD_DASH
 * command's -Name[:VALUE]): find it, take its value, store it. */
static int cli_option(int argc, char **argv, int *i, struct cli_args *a, int ndash, struct err *e)
{
	bool ps = ndash == 1;
	bool nocase = a->cmd && (a->cmd->flags & CLI_CMD_DASH);
	const char *arg = argv[*i] + ndash, *eq = strchr(arg, ps ? ':' : '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct cli_opt *o;
	struct cli_values *v;
	const char *value, *dash;
	int k = -1;

	if (a->cmd)
		k = cli_opt_index(a->cmd->opts, arg, len, nocase);
	if (k >= 0) {
		o = &a->cmd->opts[k];
		v = &a->opt[k];
	} else {
		k = cli_opt_index(cli_global_opts, arg, len, nocase);
		if (k < 0) {
			if (a->cmd) {
				char words[64];

				cli_cmd_words(a->cmd, words, sizeof(words));
				return err_set(e, "unknown %s %.*s%.*s for '%s'",
					       ps ? "parameter" : "option", ndash, "--", (int)len,
					       arg, words);
			}
			return err_set(e, "unknown option --%.*s", (int)len, arg);
		}
		o = &cli_global_opts[k];
		v = &a->global[k];
	}
	dash = cli_opt_dash(a->cmd, o);
	if (!o->arg) {
		if (eq)
			return err_set(e, "%s%s takes no value", dash, o->name);
		value = "";
	} else if (eq) {
		value = eq + 1;
	} else {
		if (*i + 1 >= argc)
			return err_set(e, "%s%s needs a value (%s)", dash, o->name, o->arg);
		value = argv[++*i];
	}
	if (!strcmp(o->name, "help"))
		a->help = true;
	return cli_store(v, o, dash, value, e);
}

/* A group's default command was assumed (`ferry migrations ...`) and now a command of the
 * group is named: take it instead, with the options given so far, which must be its too. */
static int cli_switch(struct cli_args *a, const struct cli_cmd *to, struct err *e)
{
	struct cli_values moved[CLI_MAX_OPTS];
	char words[64];

	memset(moved, 0, sizeof(moved));
	cli_cmd_words(to, words, sizeof(words));
	for (int k = 0; a->cmd->opts[k].name; k++) {
		const char *name = a->cmd->opts[k].name;
		int n;

		if (!a->opt[k].n)
			continue;
		n = cli_opt_index(to->opts, name, strlen(name), false);
		if (n < 0)
			return err_set(e, "unknown option --%s for '%s'", name, words);
		moved[n] = a->opt[k];
	}
	memcpy(a->opt, moved, sizeof(moved));
	a->cmd = to;
	return 0;
}

/* A word that is not an option: the group, the command, or a positional argument.
 * *implied: a->cmd is the group's default, assumed, no command of the group named yet. */
static int cli_word(const char *w, const char **group, bool *implied, struct cli_args *a,
		    struct err *e)
{
	if (a->cmd && *implied) {
		const struct cli_cmd *c = cli_find(*group, w);

		*implied = false;
		if (!c)
			return err_set(e, "'%s' is not a '%s' command (see 'ferry help %s')", w,
				       *group, *group);
		return cli_switch(a, c, e);
	}
	if (a->cmd) {
		if (a->npos == CLI_MAX_POS || a->npos >= a->cmd->npos_max) {
			char words[64];

			cli_cmd_words(a->cmd, words, sizeof(words));
			if (a->cmd->flags & CLI_CMD_DASH)
				return err_set(e,
					       "'%s' takes its values by name (%s%s %s): '%s' "
					       "is not one",
					       words, cli_opt_dash(a->cmd, &a->cmd->opts[0]),
					       a->cmd->opts[0].name, a->cmd->opts[0].arg, w);
			return err_set(e, "'%s' takes %s: '%s' is one too many", words,
				       a->cmd->npos_max > 1 ? "at most two arguments"
				       : a->cmd->npos_max   ? "one argument"
							    : "no arguments",
				       w);
		}
		a->pos[a->npos++] = w;
		return 0;
	}
	if (*group) {
		a->cmd = cli_find(*group, w);
		if (!a->cmd)
			return err_set(e, "'%s' is not a '%s' command (see 'ferry help %s')", w,
				       *group, *group);
		a->group = NULL;
		return 0;
	}
	if (cli_is_group(w)) {
		for (size_t i = 0; cli_groups[i]; i++)
			if (!strcasecmp(cli_groups[i], w))
				*group = cli_groups[i];
		a->group = *group;
		a->cmd = cli_group_default(*group);
		if (a->cmd) {
			*implied = true;
			a->group = NULL;
		}
		return 0;
	}
	a->cmd = cli_find(NULL, w);
	if (!a->cmd)
		return err_set(e, "'%s' is not a command (see 'ferry help')", w);
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_args *a, struct err *e)
{
	const char *group = NULL;
	bool options = true, implied = false;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];

		if (options && !strcmp(w, "--")) {
			options = false;
		} else if (options && !strncmp(w, "--", 2)) {
			if (cli_option(argc, argv, &i, a, 2, e) < 0)
				return -1;
		} else if (options && !strcmp(w, "-h")) {
			a->help = true;
		} else if (options && w[0] == '-' && w[1] && a->cmd &&
			   (a->cmd->flags & CLI_CMD_DASH)) {
			if (cli_option(argc, argv, &i, a, 1, e) < 0)
				return -1;
		} else if (options && w[0] == '-' && w[1]) {
			return err_set(e, "unknown option %s (options are spelled --name)", w);
		} else if (cli_word(w, &group, &implied, a, e) < 0) {
			return -1;
		}
	}
	if (!a->cmd || a->help)
		return 0;
	if (a->npos < a->cmd->npos_min) {
		char words[64];

		cli_cmd_words(a->cmd, words, sizeof(words));
		return err_set(e, "'%s' needs %s", words, a->cmd->args);
	}
	for (int k = 0; a->cmd->opts[k].name; k++)
		if ((a->cmd->opts[k].flags & CLI_REQUIRED) && !a->opt[k].n)
			return err_set(e, "%s%s is required",
				       cli_opt_dash(a->cmd, &a->cmd->opts[k]),
				       a->cmd->opts[k].name);
	return 0;
}

const struct cli_values *cli_get_all(const struct cli_args *a, const char *name)
{
	int k;

	if (a->cmd) {
		k = cli_opt_index(a->cmd->opts, name, strlen(name),
				  (a->cmd->flags & CLI_CMD_DASH) != 0);
		if (k >= 0)
			return &a->opt[k];
	}
	k = cli_opt_index(cli_global_opts, name, strlen(name), false);
	return k >= 0 ? &a->global[k] : NULL;
}

const char *cli_get(const struct cli_args *a, const char *name)
{
	const struct cli_values *v = cli_get_all(a, name);

	return v && v->n ? v->v[v->n - 1] : NULL;
}

bool cli_flag(const struct cli_args *a, const char *name)
{
	return cli_get(a, name) != NULL;
}
