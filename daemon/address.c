#include "address.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

static bool
atext(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
valid_local(const char *s, size_t n, char *why, size_t whysz)
{
	if (n == 0) {
		snprintf(why, whysz, "the part before '@' is empty");
		return false;
	}
	if (n > 64) {
		snprintf(why, whysz, "the part before '@' is longer than 64 characters");
		return false;
	}
	if (s[0] == '"') {
		if (n < 2 || s[n - 1] != '"') {
			snprintf(why, whysz, "unterminated quoted local part");
			return false;
		}
		for (size_t i = 1; i < n - 1; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\' && i + 1 < n - 1) {
				i++;
				continue;
			}
			if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
				snprintf(why, whysz, "character %zu of the quoted local "
				    "part is not allowed", i + 1);
				return false;
			}
		}
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			snprintf(why, whysz, "non-ASCII local part (SMTPUTF8 is "
			    "not supported)");
			return false;
		}
		if (c == '.') {
			if (i == 0 || i == n - 1 || s[i - 1] == '.') {
				snprintf(why, whysz, "misplaced '.' in the local part");
				return false;
			}
		} else if (!atext(c)) {
			snprintf(why, whysz, "character '%c' is not allowed in "
			    "the local part", c);
			return false;
		}
	}
	return true;
}

static bool
valid_domain(const char *s, size_t n, char *why, size_t whysz)
{
	size_t label = 0, dots = 0;

	if (n == 0) {
		snprintf(why, whysz, "the domain after '@' is empty");
		return false;
	}
	if (s[0] == '[') {
		unsigned a, b, c, d;
		char tail;
		char buf[64];
		if (n >= sizeof(buf) || s[n - 1] != ']') {
			snprintf(why, whysz, "malformed address literal");
			return false;
		}
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		if (sscanf(buf, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 ||
		    a > 255 || b > 255 || c > 255 || d > 255) {
			snprintf(why, whysz, "address literal is not [IPv4]");
			return false;
		}
		return true;
	}
	if (n > 253) {
		snprintf(why, whysz, "domain longer than 253 characters");
		return false;
	}
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63) {
				snprintf(why, whysz, "empty or over-long label in the domain");
				return false;
			}
			if (s[i - 1] == '-') {
				snprintf(why, whysz, "a domain label ends with '-'");
				return false;
			}
			if (i < n)
				dots++;
			label = 0;
			continue;
		}
		if (c >= 0x80) {
			snprintf(why, whysz, "non-ASCII domain; write it in its "
			    "xn-- (punycode) form");
			return false;
		}
		if (!isalnum(c) && c != '-') {
			snprintf(why, whysz, "character '%c' is not allowed in the domain", c);
			return false;
		}
		if (label == 0 && c == '-') {
			snprintf(why, whysz, "a domain label starts with '-'");
			return false;
		}
		label++;
	}
	if (dots == 0) {
		snprintf(why, whysz, "the domain has no dot");
		return false;
	}
	return true;
}

bool
address_valid(const char *addr, char *why, size_t whysz)
{
	const char *at;
	size_t n = strlen(addr);

	if (n == 0) {
		snprintf(why, whysz, "empty address");
		return false;
	}
	if (n > 254) {
		snprintf(why, whysz, "longer than 254 characters");
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)addr[i] <= 0x20 && addr[0] != '"') {
			snprintf(why, whysz, "contains white space or a control character");
			return false;
		}
	at = strrchr(addr, '@');
	if (at == NULL) {
		snprintf(why, whysz, "no '@'");
		return false;
	}
	return valid_local(addr, (size_t)(at - addr), why, whysz) &&
	    valid_domain(at + 1, strlen(at + 1), why, whysz);
}

int
address_parse_mailbox(const char *mailbox, char **display, char **addr,
    char *why, size_t whysz)
{
	const char *lt = strrchr(mailbox, '<');
	char *a;

	*display = *addr = NULL;
	if (lt == NULL) {
		a = text_strip(mailbox, strlen(mailbox));
	} else {
		const char *gt = strchr(lt, '>');
		if (gt == NULL || gt[1] != '\0') {
			char *rest = gt ? text_strip(gt + 1, strlen(gt + 1)) : NULL;
			bool bad = gt == NULL || *rest != '\0';
			free(rest);
			if (bad) {
				snprintf(why, whysz, "expected 'Name <address>'");
				return -1;
			}
		}
		a = xstrndup(lt + 1, (size_t)(gt - lt - 1));
		char *d = text_strip(mailbox, (size_t)(lt - mailbox));
		size_t dn = strlen(d);
		if (dn >= 2 && d[0] == '"' && d[dn - 1] == '"') {
			memmove(d, d + 1, dn - 2);
			d[dn - 2] = '\0';
		}
		if (*d)
			*display = d;
		else
			free(d);
	}
	if (!address_valid(a, why, whysz)) {
		free(a);
		free(*display);
		*display = NULL;
		return -1;
	}
	*addr = a;
	return 0;
}

char *
address_key(const char *addr)
{
	char *k = xstrdup(addr);

	for (char *p = k; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return k;
}
