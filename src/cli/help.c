/* help.c - ferry's help, man page and bash completion, all written from the command table.
 *
 * The terminal help wraps the table's paragraphs at 80 columns; the man page (`ferry
 * --man`) sets the same text in roff (man(7) macros: .TH, .SH, .SS, .TP), escaping what roff
 * would read as requests or escapes; the completion script (`ferry --completion`) knows the
 * words, each command's options and which options take a value, and completes host and VM
 * names by asking the cluster (`ferry __names hosts|vms`, silent when nothing answers).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define CLI_WIDTH 80

/* Write text wrapped at CLI_WIDTH, every line indented by indent spaces; the first line
 * starts after `first` spaces at column col0 + first (the caller may have written col0
 * columns there already). */
static void cli_wrap_at(FILE *f, const char *text, int col0, int first, int indent)
{
	int col = col0 + first;
	bool words = false; /* a word on the current line already */
	const char *p = text;

	fprintf(f, "%*s", first, "");
	while (*p) {
		if (*p == '\n') {
			/* a paragraph break: a blank line */
			fprintf(f, "\n");
			while (*p == '\n')
				p++;
			if (*p)
				fprintf(f, "\n%*s", indent, "");
			col = indent;
			words = false;
			continue;
		}
		if (*p == ' ') {
			p++;
			continue;
		}
		size_t n = strcspn(p, " \n");

		if (words && col + 1 + (int)n > CLI_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (words) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)n, p);
		col += (int)n;
		p += n;
		words = true;
	}
	fputc('\n', f);
}

static void cli_wrap(FILE *f, const char *text, int first, int indent)
{
	cli_wrap_at(f, text, 0, first, indent);
}

static void cli_synopsis(FILE *f, const struct cli_cmd *c)
{
	char words[64], line[512];
	bool optional = false;
	size_t n;

	cli_cmd_words(c, words, sizeof(words));
	n = (size_t)snprintf(line, sizeof(line), "ferry %s", words);
	if (c->args)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", c->args);
	for (int k = 0; c->opts[k].name; k++) {
		if (!(c->opts[k].flags & CLI_REQUIRED)) {
			optional = true;
			continue;
		}
		n +=
		    (size_t)snprintf(line + n, sizeof(line) - n, " %s%s %s",
				     cli_opt_dash(c, &c->opts[k]), c->opts[k].name, c->opts[k].arg);
	}
	if (optional)
		snprintf(line + n, sizeof(line) - n, " [OPTIONS]");
	fprintf(f, "%s", line);
}

/* "--name ARG" with its alias: "--cpus N, --vcpus N"; dash: "-" or "--". */
static void cli_opt_label(const struct cli_opt *o, const char *dash, char *out, size_t size)
{
	int n =
	    snprintf(out, size, "%s%s%s%s", dash, o->name, o->arg ? " " : "", o->arg ? o->arg : "");

	if (o->alias && n > 0 && (size_t)n < size)
		snprintf(out + n, size - (size_t)n, ", %s%s%s%s", dash, o->alias, o->arg ? " " : "",
			 o->arg ? o->arg : "");
}

/* The options of c (NULL: the global ones). */
static const struct cli_opt *cli_opts_of(const struct cli_cmd *c)
{
	return c ? c->opts : cli_global_opts;
}

static void cli_opts(FILE *f, const struct cli_cmd *c)
{
	const struct cli_opt *opts = cli_opts_of(c);

	for (int k = 0; opts[k].name; k++) {
		char label[128], help[512];
		int w;

		cli_opt_label(&opts[k], cli_opt_dash(c, &opts[k]), label, sizeof(label));
		snprintf(help, sizeof(help), "%s%s%s", opts[k].help,
			 opts[k].flags & CLI_REQUIRED ? " Required." : "",
			 opts[k].flags & CLI_REPEAT ? " May be repeated." : "");
		w = fprintf(f, "  %s", label);
		if (w > 26) {
			fputc('\n', f);
			w = 0;
		}
		cli_wrap_at(f, help, w, 28 - w, 28);
	}
}

void cli_help_cmd(FILE *f, const struct cli_cmd *c)
{
	char summary[256];

	fprintf(f, "usage: ");
	cli_synopsis(f, c);
	fprintf(f, "\n\n");
	snprintf(summary, sizeof(summary), "%s", c->summary);
	summary[0] = (char)(summary[0] >= 'a' && summary[0] <= 'z' ? summary[0] - 32 : summary[0]);
	fprintf(f, "%s.\n", summary);
	if (c->description) {
		fputc('\n', f);
		cli_wrap(f, c->description, 0, 0);
	}
	if (c->opts[0].name) {
		fprintf(f, "\n%s:\n", c->flags & CLI_CMD_DASH ? "Parameters" : "Options");
		cli_opts(f, c);
	}
	fprintf(f, "\nGlobal options (--config-dir, --endpoint, --cert, --key, --secret-file,\n"
		   "--json, --verbose): see 'ferry help'.\n");
}

static void cli_list(FILE *f, const char *group)
{
	for (size_t i = 0; i < cli_ncommands; i++) {
		const struct cli_cmd *c = &cli_commands[i];
		char words[64];

		if (group && (!c->group || strcmp(c->group, group)))
			continue;
		cli_cmd_words(c, words, sizeof(words));
		fprintf(f, "  %-19s", words);
		cli_wrap_at(f, c->summary, 21, 0, 21);
	}
}

void cli_help_all(FILE *f)
{
	fprintf(f, "usage: ferry [GLOBAL OPTIONS] COMMAND [ARGS] [OPTIONS]\n\n"
		   "The command line of a Ferry cluster: it talks to any host's agent (ferryd).\n\n"
		   "Commands:\n");
	cli_list(f, NULL);
	fprintf(f, "\nGlobal options:\n");
	cli_opts(f, NULL);
	fprintf(f, "\nNames of hosts and VMs are case-insensitive (VH01 is vh01). Exit status: 0 "
		   "done, 1 failed, 2 usage.\nRun 'ferry help COMMAND' for a command's options "
		   "('ferry help vm create').\n");
}

void cli_help_group(FILE *f, const char *group)
{
	const struct cli_cmd *d = cli_group_default(group);

	fprintf(f, "usage: ferry %s %sCOMMAND%s [ARGS] [OPTIONS]\n\nCommands:\n", group,
		d ? "[" : "", d ? "]" : "");
	cli_list(f, group);
	if (d)
		fprintf(f, "\n'ferry %s' alone is 'ferry %s %s' (see 'ferry help %s %s').", group,
			group, d->name, group, d->name);
	fprintf(f, "\nRun 'ferry help %s COMMAND' for a command's options.\n", group);
}

void cli_help_full(FILE *f)
{
	cli_help_all(f);
	for (size_t i = 0; i < cli_ncommands; i++) {
		fprintf(f, "\n");
		cli_help_cmd(f, &cli_commands[i]);
	}
}

/* ---- roff ------------------------------------------------------------------------------------ */

/* Text in roff: backslashes and hyphens escaped, a line never starting with '.' or '\''. */
static void cli_roff(FILE *f, const char *s)
{
	bool bol = true;

	for (; *s; s++) {
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", f);
		bol = false;
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else if (*s == '\n') {
			/* paragraphs */
			while (s[1] == '\n')
				s++;
			fputs("\n.PP\n", f);
			bol = true;
		} else
			fputc(*s, f);
	}
}

static void cli_roff_opts(FILE *f, const struct cli_cmd *c)
{
	const struct cli_opt *opts = cli_opts_of(c);

	for (int k = 0; opts[k].name; k++) {
		char label[128];

		cli_opt_label(&opts[k], cli_opt_dash(c, &opts[k]), label, sizeof(label));
		fputs(".TP\n\\fB", f);
		cli_roff(f, label);
		fputs("\\fR\n", f);
		cli_roff(f, opts[k].help);
		if (opts[k].flags & CLI_REQUIRED)
			fputs(" Required.", f);
		if (opts[k].flags & CLI_REPEAT)
			fputs(" May be repeated.", f);
		fputc('\n', f);
	}
}

void cli_man(FILE *f, const char *version)
{
	fprintf(f, ".\\\" ferry(1), generated by 'ferry --man' from ferry's command table.\n");
	fputs(".TH FERRY 1 \"\" \"ferry ", f);
	cli_roff(f, version);
	fputs("\" \"Ferry\"\n", f);
	fputs(".SH NAME\nferry \\- the command line of a Ferry cluster\n"
	      ".SH SYNOPSIS\n\\fBferry\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR] "
	      "[\\fIOPTIONS\\fR]\n"
	      ".SH DESCRIPTION\n"
	      "\\fBferry\\fR makes a cluster's certificates and configuration files, and talks "
	      "to any host's agent, \\fBferryd\\fR(1), over HTTPS (its API is the only way in): "
	      "it verifies the agent against the cluster's CA and authenticates with a client "
	      "certificate or the cluster secret. Without either, it refuses to run.\n"
	      ".PP\nNames of hosts and VMs are case\\-insensitive and kept in lower case "
	      "(VH01 is vh01). Sizes take binary suffixes (256M, 1G). Options may come anywhere "
	      "after \\fBferry\\fR, as \\fB\\-\\-opt VALUE\\fR or \\fB\\-\\-opt=VALUE\\fR.\n"
	      ".SH COMMANDS\n",
	      f);
	for (size_t i = 0; i < cli_ncommands; i++) {
		const struct cli_cmd *c = &cli_commands[i];
		char line[512];
		FILE *m = fmemopen(line, sizeof(line), "w");

		if (!m)
			continue;
		cli_synopsis(m, c);
		fclose(m);
		line[sizeof(line) - 1] = '\0';
		fputs(".SS \"", f);
		cli_roff(f, line + strlen("ferry "));
		fputs("\"\n", f);
		cli_roff(f, c->summary);
		fputs(".\n", f);
		if (c->description) {
			fputs(".PP\n", f);
			cli_roff(f, c->description);
			fputc('\n', f);
		}
		if (c->opts[0].name) {
			fputs(c->flags & CLI_CMD_DASH ? ".PP\nParameters:\n.RS\n"
						      : ".PP\nOptions:\n.RS\n",
			      f);
			cli_roff_opts(f, c);
			fputs(".RE\n", f);
		}
	}
	fputs(".SH GLOBAL OPTIONS\n", f);
	cli_roff_opts(f, NULL);
	fputs(".TP\n\\fB\\-\\-version\\fR\nPrint \\fBferry VERSION\\fR and exit.\n", f);
	fputs(".SH ENVIRONMENT\n.TP\n\\fBFERRY_CONFIG_DIR\\fR\nThe configuration directory "
	      "(\\fB\\-\\-config\\-dir\\fR).\n.TP\n\\fBFERRY_ENDPOINT\\fR\nThe agent to talk to "
	      "(\\fB\\-\\-endpoint\\fR).\n"
	      ".SH FILES\n.TP\n\\fI/etc/ferry/cluster.json\\fR\nThe cluster: its name, etcd "
	      "endpoints and hosts.\n.TP\n\\fI/etc/ferry/ca.crt\\fR, \\fIca.key\\fR\nThe cluster's "
	      "certificate authority.\n.TP\n\\fI/etc/ferry/admin.crt\\fR, \\fIadmin.key\\fR\nThe "
	      "client certificate ferry uses by default.\n.TP\n\\fI/etc/ferry/secret\\fR\nThe "
	      "cluster secret (mode 0600).\n.TP\n\\fI/etc/ferry/hosts/NAME.json\\fR\nA host's "
	      "configuration, read by \\fBferryd\\fR; \\fINAME.crt\\fR and \\fINAME.key\\fR "
	      "beside it.\n.TP\n\\fI/var/lib/ferry\\fR, \\fI/run/ferry\\fR, "
	      "\\fI/var/log/ferry\\fR\nThe agent's state, sockets and the VMs' logs.\n"
	      ".SH EXIT STATUS\n0: done. 1: failed (the message on standard error comes from the "
	      "agent, or says what did not answer); also a move that failed or was cancelled, and "
	      "a drain that left a VM on its host. 2: usage (a hint names \\fBferry help "
	      "COMMAND\\fR).\n"
	      ".SH EXAMPLES\n.nf\n"
	      "ferry cluster init \\-\\-name lab \\-\\-host vh01 \\-\\-address 10.77.0.11\n"
	      "ferry host add vh02 \\-\\-address 10.77.0.12 \\-\\-memory 1G \\-\\-vcpus 2\n"
	      "ferry vm create cl7 \\-\\-memory 256M \\-\\-kernel /srv/shared/Image \\-\\-disk "
	      "/srv/shared/cl7.img\n"
	      "ferry vm start cl7 \\-\\-on vh01\n"
	      "ferry move cl7 \\-\\-to vh02\n"
	      "ferry move cl7 \\-\\-to best \\-\\-explain\n"
	      "ferry Move\\-VM \\-ComputerName VH01 \\-Name CL7 \\-DestinationHost VH02\n"
	      "ferry migrations \\-\\-watch\n"
	      "ferry host drain vh01\n"
	      "ferry vm console cl7\n.fi\n"
	      ".SH SEE ALSO\n\\fBferryd\\fR(1), \\fBferry\\-vm\\fR(1), \\fBferry\\-vmctl\\fR(1)\n",
	      f);
}

/* ---- bash completion ---------------------------------------------------------------------------- */

/* The completion compares words in lower case (command words and a CLI_CMD_DASH command's
 * parameters are case-insensitive), so the lists it matches against are written so too. */
static void cli_lower(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s, f);
}

/* The options of c (NULL: the global ones), with_value: only those that take one. */
static void cli_words_opts(FILE *f, const struct cli_cmd *c, bool with_value, bool lower)
{
	const struct cli_opt *opts = cli_opts_of(c);

	for (int k = 0; opts[k].name; k++) {
		const char *dash = cli_opt_dash(c, &opts[k]);

		if (with_value && !opts[k].arg)
			continue;
		fprintf(f, " %s", dash);
		if (lower)
			cli_lower(f, opts[k].name);
		else
			fputs(opts[k].name, f);
		if (opts[k].alias) {
			fprintf(f, " %s", dash);
			if (lower)
				cli_lower(f, opts[k].alias);
			else
				fputs(opts[k].alias, f);
		}
	}
}

/* The case pattern of a command: 'vm create'|'vm remove', 'move '. */
static void cli_case_pattern(FILE *f, const struct cli_cmd *c)
{
	fputc('\'', f);
	cli_lower(f, c->group ? c->group : c->name);
	fputc(' ', f);
	if (c->group)
		cli_lower(f, c->name);
	fputc('\'', f);
	if (c->group && c->alias) {
		fprintf(f, "|'");
		cli_lower(f, c->group);
		fputc(' ', f);
		cli_lower(f, c->alias);
		fputc('\'', f);
	}
}

void cli_completion(FILE *f)
{
	fputs("# bash completion for ferry, generated by 'ferry --completion' from its command "
	      "table.\n"
	      "_ferry()\n{\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "\tlocal group= cmd= npos=0 i w\n"
	      "\tlocal groups=' ",
	      f);
	for (size_t i = 0; cli_groups[i]; i++)
		fprintf(f, "%s ", cli_groups[i]);
	fputs("'\n\tlocal dash=' ", f);
	for (size_t i = 0; i < cli_ncommands; i++)
		if (cli_commands[i].flags & CLI_CMD_DASH) {
			cli_lower(f, cli_commands[i].name);
			fputc(' ', f);
		}
	fputs("'\n\tlocal valued='", f);
	/* every option that takes a value, whatever the command: skip its value */
	cli_words_opts(f, NULL, true, true);
	for (size_t i = 0; i < cli_ncommands; i++)
		cli_words_opts(f, &cli_commands[i], true, true);
	fputs(" '\n"
	      "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	      "\t\tw=${COMP_WORDS[i],,}\n"
	      "\t\tcase $w in\n"
	      "\t\t--*=*) ;;\n"
	      "\t\t-*:*) [[ $dash == *\" $group \"* ]] || { [[ $valued == *\" $w \"* ]] && "
	      "((i++)); } ;;\n"
	      "\t\t-*) [[ $valued == *\" $w \"* ]] && ((i++)) ;;\n"
	      "\t\t*) if [[ -z $group ]]; then group=$w\n"
	      "\t\t   elif [[ -z $cmd && $groups == *\" $group \"* ]]; then cmd=$w\n"
	      "\t\t   else ((npos++)); fi ;;\n"
	      "\t\tesac\n"
	      "\tdone\n"
	      "\tcase ${prev,,} in\n"
	      "\t--config-dir|--state-dir|--run-dir|--log-dir)\n"
	      "\t\tCOMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n"
	      "\t--cert|--key|--secret-file|--kernel|--initrd|--disk)\n"
	      "\t\tCOMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
	      "\t--on|-computername)\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$(ferry __names hosts 2>/dev/null)\" -- \"$cur\")); "
	      "return ;;\n"
	      "\t--to|-destinationhost)\n"
	      "\t\tCOMPREPLY=($(compgen -W \"best $(ferry __names hosts 2>/dev/null)\" -- "
	      "\"$cur\")); return ;;\n"
	      "\t-name)\n"
	      "\t\t[[ $dash == *\" $group \"* ]] && COMPREPLY=($(compgen -W \"$(ferry __names vms "
	      "2>/dev/null)\" -- \"$cur\")); return ;;\n"
	      "\tesac\n"
	      "\t[[ $valued == *\" ${prev,,} \"* ]] && return\n"
	      "\tlocal global='",
	      f);
	cli_words_opts(f, NULL, false, false);
	fputs(" '\n\tlocal opts=$global\n\tcase $group in\n\t'')\n\t\tCOMPREPLY=($(compgen -W \"",
	      f);
	for (size_t i = 0; cli_groups[i]; i++)
		fprintf(f, "%s ", cli_groups[i]);
	for (size_t i = 0; i < cli_ncommands; i++)
		if (!cli_commands[i].group)
			fprintf(f, "%s ", cli_commands[i].name);
	fputs("--version $global\" -- \"$cur\")); return ;;\n", f);
	fputs("\thelp)\n\t\tCOMPREPLY=($(compgen -W \"", f);
	for (size_t i = 0; cli_groups[i]; i++)
		fprintf(f, "%s ", cli_groups[i]);
	for (size_t i = 0; i < cli_ncommands; i++)
		if (!cli_commands[i].group)
			fprintf(f, "%s%s", cli_commands[i].name, i + 1 < cli_ncommands ? " " : "");
	fputs("\" -- \"$cur\")); return ;;\n", f);
	for (size_t g = 0; cli_groups[g]; g++) {
		const struct cli_cmd *d = cli_group_default(cli_groups[g]);

		fprintf(f, "\t%s)\n\t\tif [[ -z $cmd ]]; then\n", cli_groups[g]);
		if (d)
			/* a group with a default command: its options complete without it */
			fprintf(f, "\t\t\tif [[ $cur == -* ]]; then cmd=%s; else\n", d->name);
		fputs("\t\t\tCOMPREPLY=($(compgen -W \"", f);
		for (size_t i = 0, n = 0; i < cli_ncommands; i++)
			if (cli_commands[i].group && !strcmp(cli_commands[i].group, cli_groups[g]))
				fprintf(f, "%s%s", n++ ? " " : "", cli_commands[i].name);
		fprintf(f, "\" -- \"$cur\")); return%s\n\t\tfi ;;\n", d ? "; fi" : "");
	}
	fputs("\tesac\n\tcase \"$group $cmd\" in\n", f);
	for (size_t i = 0; i < cli_ncommands; i++) {
		const struct cli_cmd *c = &cli_commands[i];

		if (!c->opts[0].name)
			continue;
		fputc('\t', f);
		cli_case_pattern(f, c);
		fputs(")\n\t\topts=\"$opts", f);
		cli_words_opts(f, c, false, false);
		fputs("\" ;;\n", f);
	}
	fputs("\tesac\n"
	      "\tif [[ $cur == -* || $dash == *\" $group \"* ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); return\n"
	      "\tfi\n"
	      "\tif ((npos == 0)); then\n"
	      "\t\tcase \"$group $cmd\" in\n"
	      "\t\t'host show'|'host remove'|'host rm'|'host drain'|'host resume')\n"
	      "\t\t\tCOMPREPLY=($(compgen -W \"$(ferry __names hosts 2>/dev/null)\" -- "
	      "\"$cur\")) ;;\n"
	      "\t\t'vm create'|'vm ls'|'vm list') ;;\n"
	      "\t\tvm\\ *|'move '|'migrations cancel')\n"
	      "\t\t\tCOMPREPLY=($(compgen -W \"$(ferry __names vms 2>/dev/null)\" -- \"$cur\")) "
	      ";;\n"
	      "\t\tesac\n"
	      "\tfi\n"
	      "}\n"
	      "complete -F _ferry ferry\n",
	      f);
}
