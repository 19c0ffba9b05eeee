/*
 * q_rules.h - SQL for the Rules screen.
 *
 * Reads postern.rules_overview (one row per rule in position order) and
 * the rule_conditions / rule_actions of one rule; changes rules only
 * through the documented functions: rule_up, rule_down, rule_enable,
 * rule_delete, rule_add, rule_update, rule_clear and the rule_add_*
 * functions (one per condition or action line, see model.h).
 *
 * Saving a rule (add or edit) is one transaction: the rule row, then
 * rule_clear, then every condition and action line in order.  Daemons see
 * the rule change at COMMIT only, never half-built; any error (a bad CIDR,
 * an AUTH rule with a non-connection condition, checked at COMMIT) rolls
 * everything back and is returned word for word.
 *
 * Every function returns 0 or -1 with db->err (or err) set; rows are
 * copied into bounded fixed-size fields (longer text is cut).
 */
#ifndef POSTERN_CONSOLE_Q_RULES_H
#define POSTERN_CONSOLE_Q_RULES_H

#include <stddef.h>

#include "console/db.h"
#include "console/model.h"

#define Q_RULES_MAX 1000
#define Q_RULE_LINES 6		/* condition and action lines in the form */

struct q_rule {
	int id, position, enabled;
	char name[65];
	char match[8];
	char conditions[MODEL_TEXT_MAX];
	char actions[MODEL_TEXT_MAX];
	char description[256];
};

struct q_rules {
	int n;
	struct q_rule rule[Q_RULES_MAX];
};

/* A rule as edited in the form. */
struct q_rule_edit {
	char name[65];
	char match[8];
	char position[16];		/* add only; "" = last */
	char description[256];
	char cond[Q_RULE_LINES][MODEL_TEXT_MAX];
	char action[Q_RULE_LINES][MODEL_TEXT_MAX];
};

int q_rules_load(struct db *db, struct q_rules *out);
int q_rules_up(struct db *db, const char *name);
int q_rules_down(struct db *db, const char *name);
int q_rules_enable(struct db *db, const char *name, int on);
int q_rules_delete(struct db *db, const char *name);
/* Fills e from the database for editing.  Returns 0, -1 (db->err), or -2
 * when the rule has more condition or action lines than the form holds. */
int q_rules_get(struct db *db, const char *name, struct q_rule_edit *e);
/* Adds (old_name NULL) or replaces a rule from e in one transaction.
 * Returns 0, or -1 with the reason in err ("condition 2: ..."). */
int q_rules_save(struct db *db, const char *old_name,
    const struct q_rule_edit *e, char *err, size_t errlen);
/* Every field, condition and action of a rule, as text lines. */
int q_rules_detail(struct db *db, const char *name, struct model_lines *l);

#endif
