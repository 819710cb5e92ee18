#include "address.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <pthread.h>
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

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

/*
 * Why GMime could not read a mailbox: the address's own fault when it has
 * one (address_valid says which), else the form.
 */
static void
explain(const char *mailbox, char *why, size_t whysz)
{
	const char *lt = strrchr(mailbox, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	char *candidate = NULL;

	if (lt == NULL)
		candidate = text_strip(mailbox, strlen(mailbox));
	else if (gt != NULL)
		candidate = xstrndup(lt + 1, (size_t)(gt - lt - 1));
	if (candidate == NULL || address_valid(candidate, why, whysz))
		snprintf(why, whysz, "expected 'Name <address>' or an address");
	free(candidate);
}

int
address_parse_mailbox(const char *mailbox, char **display, char **addr,
    char *why, size_t whysz)
{
	InternetAddressList *list;
	InternetAddress *only = NULL;
	const char *lt = strrchr(mailbox, '<');
	int rc = -1;

	*display = *addr = NULL;
	pthread_once(&gmime_once, gmime_start);
	list = internet_address_list_parse(NULL, mailbox);
	if (list != NULL && internet_address_list_length(list) == 1)
		only = internet_address_list_get_address(list, 0);
	/* GMime reads leniently what the configuration must not hold: a
	 * group, "Name <a@b" without its '>', anything after the '>' */
	if (list != NULL && (only == NULL || !INTERNET_ADDRESS_IS_MAILBOX(only))) {
		snprintf(why, whysz, "expected one 'Name <address>', not a list or a group");
		goto out;
	}
	if (only == NULL || (lt != NULL && strchr(lt, '>') == NULL)) {
		explain(mailbox, why, whysz);
		goto out;
	}
	const char *a = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(only));
	const char *name = internet_address_get_name(only);
	if (a == NULL || !address_valid(a, why, whysz))
		goto out;
	*addr = xstrdup(a);
	if (name != NULL && *name != '\0')
		*display = xstrdup(name);
	rc = 0;
out:
	if (list != NULL)
		g_object_unref(list);
	return rc;
}

char *
address_key(const char *addr)
{
	char *k = xstrdup(addr);

	for (char *p = k; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return k;
}
