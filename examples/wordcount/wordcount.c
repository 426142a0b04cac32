/* wordcount: count the lines, words and bytes of files or standard input, like wc(1).
 *
 *   wordcount [FILE...]        prints "LINES WORDS BYTES [FILE]" for each input
 *   wordcount --help | --version
 *
 * A word is a run of bytes that are not white space (isspace() in the C locale).
 * Exits 1 if a file cannot be read. VERSION comes from the compiler command line. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef VERSION
#define VERSION "dev"
#endif

/* Counts one input and prints its line; returns 0, or -1 on a read error. */
static int count(FILE *in, const char *name)
{
    long lines = 0, words = 0, bytes = 0;
    int c, in_word = 0;

    while ((c = getc(in)) != EOF) {
        bytes++;
        if (c == '\n')
            lines++;
        if (isspace(c)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    if (ferror(in))
        return -1;
    if (name)
        printf("%ld %ld %ld %s\n", lines, words, bytes, name);
    else
        printf("%ld %ld %ld\n", lines, words, bytes);
    return 0;
}

int main(int argc, char **argv)
{
    int status = 0;

    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        puts("usage: wordcount [FILE...]\n"
             "Print the lines, words and bytes of each FILE, or of standard input.");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        puts("wordcount " VERSION);
        return 0;
    }
    if (argc == 1 && count(stdin, NULL) != 0) {
        fprintf(stderr, "wordcount: standard input: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f || count(f, argv[i]) != 0) {
            fprintf(stderr, "wordcount: %s: %s\n", argv[i], strerror(errno));
            status = 1;
        }
        if (f)
            fclose(f);
    }
    return status;
}
