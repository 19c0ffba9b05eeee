/*
 * explain.h - `posternd --explain`: evaluate the live rules for a described
 * transaction and print which rules matched, in order, and the decisions,
 * without sending mail.  The admin's way to test a rule before mail hits
 * it.  Reads the configuration from the database like the daemon does.
 */
#ifndef POSTERN_EXPLAIN_H
#define POSTERN_EXPLAIN_H

/* argv holds the options after --explain.  Returns a sysexits code. */
int explain_main(const char *conninfo, const char *node, int argc,
    char **argv);

#endif
