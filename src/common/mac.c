/* mac.c - Ethernet MAC address strings (mac.h). */
#include "common/mac.h"

#include <stdio.h>
#include <string.h>

static int mac_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mac_parse(const char *s, uint8_t mac[MAC_LEN], struct err *e)
{
	uint8_t v[MAC_LEN];

	if (strlen(s) != MAC_STR_LEN - 1)
		goto bad;
	for (int i = 0; i < MAC_LEN; i++) {
		int hi = mac_hex(s[3 * i]), lo = mac_hex(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < MAC_LEN - 1 && s[3 * i + 2] != ':'))
			goto bad;
		v[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, v, MAC_LEN);
	return 0;
bad:
	return err_set(e, "'%.40s' is not a MAC address (six hex bytes, as 52:54:00:12:34:56)", s);
}

void mac_format(const uint8_t mac[MAC_LEN], char out[MAC_STR_LEN])
{
	snprintf(out, MAC_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}
