/*
 * client_key.c - abuse counter key of a client address.  See
 * client_key.h.
 */
#include "daemon/client_key.h"

#include <arpa/inet.h>
#include <string.h>

#include "daemon/util.h"

int
client_key(const char *addr, char *out, size_t n)
{
	struct in6_addr a6;
	struct in_addr a4;
	char text[INET6_ADDRSTRLEN];

	str_copy(out, addr, n);
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return 0;
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], sizeof(a4));
		if (inet_ntop(AF_INET, &a4, text, sizeof(text)) == NULL)
			return -1;
		str_copy(out, text, n);
		return 0;
	}
	memset(&a6.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) == NULL ||
	    strlen(text) + 4 >= n)
		return -1;
	str_copy(out, text, n);
	memcpy(out + strlen(out), "/64", 4);
	return 0;
}
