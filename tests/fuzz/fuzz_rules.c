/*
 * fuzz_rules.c - libFuzzer target over the rules compiler
 * (rules_add_rule/_cond/_action: what the snapshot does with rows from
 * SQL) and the evaluator (rules_eval at every stage).
 *
 * The input is lines of '|'-separated fields:
 *   R|name|any                  a new rule (any = "1": ANY, else ALL)
 *   C|kind|op|value|negate      a condition of the last rule
 *   A|kind|reply|code|ecode|text|host|port|tls|verify|versions|hname|hvalue|mechs
 *                               an action of the last rule
 *   X|addr|helo|sender|sdomain|rcpt|rdomain|auth|listener|tls|size
 *                               the transaction facts evaluated
 * Compilation errors are expected (the compiler refuses what SQL would);
 * rules that compile are evaluated at every stage with and without a
 * trace.  Asserts the evaluator's promises: the reply text is
 * NUL-terminated, at most RULES_MAX_HEADERS headers, and every header
 * comes from an add_header action.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 16

static size_t
split(char *line, char **f)
{
	size_t n = 0;
	char *p = line;

	f[n++] = p;
	while (n < MAXF && (p = strchr(p, '|')) != NULL) {
		*p++ = '\0';
		f[n++] = p;
	}
	for (size_t i = n; i < MAXF; i++)
		f[i] = "";
	return n;
}

static void
trace(void *arg, const struct rule *r, int matched)
{
	(void)r;
	*(int *)arg += matched ? 1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ruleset rs;
	struct rule *r = NULL;
	struct rules_ctx x;
	struct rules_rcpt rc[2];
	char *text, *line, *save = NULL, *f[MAXF], err[256];
	int stage, k, hits = 0;

	if (size > 8192)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&x, 0, sizeof(x));
	x.client_addr = "192.0.2.1";
	x.listener = "smtp";
	x.listener_port = 25;
	x.sender = "";
	x.sender_domain = "";
	x.auth_user = "";
	x.helo = "";
	rc[0].addr = rc[0].domain = "";
	rc[0].local = 0;
	rules_init(&rs);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		split(line, f);
		if (f[0][0] == 'R')
			r = rules_add_rule(&rs, f[1], (int)rs.n + 1,
			    f[2][0] == '1');
		else if (f[0][0] == 'C' && r != NULL)
			(void)rules_add_cond(r, f[1], f[2], f[3],
			    f[4][0] == '1', err, sizeof(err));
		else if (f[0][0] == 'A' && r != NULL) {
			struct rules_action_spec a = { .kind = f[1],
			    .reply = f[2], .code = atoi(f[3]), .ecode = f[4],
			    .text = f[5], .host = f[6], .port = atoi(f[7]),
			    .tls = f[8][0] ? f[8] : NULL,
			    .verify = f[9][0] ? f[9] : NULL,
			    .versions = f[10][0] ? f[10] : NULL,
			    .hname = f[11], .hvalue = f[12],
			    .mechs = f[13][0] ? f[13] : NULL };

			(void)rules_add_action(r, &a, err, sizeof(err));
		} else if (f[0][0] == 'X') {
			x.client_addr = f[1];
			x.helo = f[2];
			x.sender = f[3];
			x.sender_domain = f[4];
			rc[0].addr = rc[1].addr = f[5];
			rc[0].domain = rc[1].domain = f[6];
			rc[1].local = 1;
			x.auth_user = f[7];
			x.listener = f[8];
			x.tls = f[9][0] == '1';
			x.size = (uint64_t)strtoull(f[10], NULL, 10);
		}
	}
	x.rcpt = rc[0];
	x.rcpts = rc;
	x.nrcpts = 2;
	for (stage = RULES_CONNECT; stage <= RULES_DATA; stage++)
		for (k = 0; k < 2; k++) {
			struct rules_result res;
			size_t h;

			rules_eval(&rs, (enum rules_stage)stage, &x, &res,
			    k ? trace : NULL, &hits);
			if (memchr(res.text, '\0', sizeof(res.text)) == NULL ||
			    memchr(res.ecode, '\0', sizeof(res.ecode)) == NULL ||
			    res.nheaders > RULES_MAX_HEADERS)
				abort();
			for (h = 0; h < res.nheaders; h++)
				if (res.headers[h]->kind != ACT_ADD_HEADER)
					abort();
		}
	rules_free(&rs);
	free(text);
	return 0;
}
