/* size_parse.h - parse "512M", "1G", "4096K", "2097152" into bytes. */
#ifndef COWVM_SIZE_PARSE_H
#define COWVM_SIZE_PARSE_H
#include <stdint.h>
/* 0 on success; -EINVAL for garbage, -ERANGE for overflow. */
int parse_size(const char *s, uint64_t *out);
/* Plain unsigned decimal (or 0x hex) number. */
int parse_u64_arg(const char *s, uint64_t *out);
#endif
