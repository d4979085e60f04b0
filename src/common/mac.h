/* mac.h - Ethernet MAC addresses as the strings people and the config record write.
 *
 * One spelling everywhere: six bytes in two hex digits each, separated by colons
 * ("52:54:00:12:34:56"). mac_parse() reads either case; mac_format() writes lower case.
 */
#ifndef FERRY_MAC_H
#define FERRY_MAC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define MAC_LEN 6
#define MAC_STR_LEN 18 /* "52:54:00:12:34:56" and its NUL */

/* Parse s into mac; on error the message names s. */
int mac_parse(const char *s, uint8_t mac[MAC_LEN], struct err *e);
void mac_format(const uint8_t mac[MAC_LEN], char out[MAC_STR_LEN]);

/* A group (multicast or broadcast) address: never a network card's own. */
static inline bool mac_is_group(const uint8_t mac[MAC_LEN])
{
	return mac[0] & 1;
}

#endif
