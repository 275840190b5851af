/* A C program that uses storagedriver without Lua: it creates a filesystem
 * driver under a temporary directory (or the one given as argv[1]) and runs
 * every operation of the contract, printing one line per step.
 *
 *   cc example.c $(pkg-config --cflags --libs storagedriver) -o example
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storagedriver.h"

static int failures;

/* Prints the step and, on failure, the error's text; frees the error. */
static int step(const char *what, sd_error *e)
{
    if (!e) {
        printf("ok %s\n", what);
        return 1;
    }
    char *text = sd_error_string(e, NULL);
    printf("FAILED %s: %s\n", what, text ? text : "(no memory)");
    free(text);
    sd_error_free(e);
    failures++;
    return 0;
}

static int expect(const char *what, int cond)
{
    printf("%s %s\n", cond ? "ok" : "FAILED", what);
    if (!cond)
        failures++;
    return cond;
}

static int print_entry(void *ud, const sd_fileinfo *fi, sd_error **err)
{
    (void)err;
    int *count = ud;
    (*count)++;
    printf("   walk: %s%s (%lld bytes)\n", fi->path, fi->is_dir ? "/" : "",
           (long long)fi->size);
    return SD_WALK_CONTINUE;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/sd-example-XXXXXX";
    const char *root = argc > 1 ? argv[1] : mkdtemp(tmpl);
    if (!root) {
        perror("mkdtemp");
        return 1;
    }

    sd_params *params = sd_params_new();
    if (!params || sd_params_set_string(params, "rootdirectory", root, strlen(root)) != 0 ||
        sd_params_set_bool(params, "sync", false) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    sd_driver *d = NULL;
    int created = step("create filesystem driver", sd_create("filesystem", params, &d));
    sd_params_free(params);
    if (!created)
        return 1;

    const char *hello = "hello, storage";
    step("put_content /greetings/hello", sd_put_content(d, "/greetings/hello", hello, strlen(hello)));

    sd_buf got = {0};
    if (step("get_content /greetings/hello", sd_get_content(d, "/greetings/hello", &got)))
        expect("content round-trips",
               got.len == strlen(hello) && memcmp(got.data, hello, got.len) == 0);
    sd_buf_free(&got);

    sd_writer *w = NULL;
    if (step("writer /blobs/data", sd_writer_open(d, "/blobs/data", false, &w))) {
        step("write part 1", sd_writer_write(w, "abc", 3));
        step("close (resumable)", sd_writer_close(w));
        sd_writer_free(w);
        if (step("writer /blobs/data append", sd_writer_open(d, "/blobs/data", true, &w))) {
            expect("size counts the earlier part", sd_writer_size(w) == 3);
            step("write part 2", sd_writer_write(w, "defg", 4));
            step("commit", sd_writer_commit(w));
            step("close after commit", sd_writer_close(w));
            sd_writer_free(w);
        }
    }

    sd_reader *r = NULL;
    if (step("reader /blobs/data at 2", sd_reader_open(d, "/blobs/data", 2, &r))) {
        char buf[16];
        size_t n = 0, total = 0;
        sd_error *e;
        while (!(e = sd_reader_read(r, buf + total, sizeof buf - total, &n)) && n > 0)
            total += n;
        step("read to the end", e);
        expect("reader yields \"cdefg\"", total == 5 && memcmp(buf, "cdefg", 5) == 0);
        sd_reader_close(r);
    }

    sd_fileinfo fi = {0};
    if (step("stat /blobs/data", sd_stat(d, "/blobs/data", &fi)))
        expect("stat: 7 bytes, a file", fi.size == 7 && !fi.is_dir);
    sd_fileinfo_clear(&fi);

    sd_strlist names = {0};
    if (step("list /", sd_list(d, "/", &names)))
        expect("list: /blobs and /greetings", names.len == 2 &&
               strcmp(names.items[0], "/blobs") == 0 &&
               strcmp(names.items[1], "/greetings") == 0);
    sd_strlist_free(&names);

    int count = 0;
    step("walk /", sd_walk(d, "/", NULL, print_entry, &count));
    expect("walk saw 4 entries", count == 4);

    step("move /blobs/data -> /blobs/moved", sd_move(d, "/blobs/data", "/blobs/moved"));

    char *url = NULL;
    if (step("redirect_url /blobs/moved", sd_redirect_url(d, "/blobs/moved", NULL, &url)))
        expect("filesystem does not redirect", url == NULL);
    free(url);

    sd_error *e = sd_get_content(d, "/blobs/data", &got);
    expect("moved source is PathNotFound", e && e->kind == SD_ERR_PATH_NOT_FOUND);
    if (e) {
        char *text = sd_error_string(e, NULL);
        printf("   error text: %s\n", text ? text : "");
        free(text);
        sd_error_free(e);
    } else {
        sd_buf_free(&got);
    }

    e = sd_get_content(d, "/../etc/passwd", &got);
    expect("a path with .. is InvalidPath", e && e->kind == SD_ERR_INVALID_PATH);
    sd_error_free(e);

    step("delete /blobs", sd_delete(d, "/blobs"));
    step("delete /greetings", sd_delete(d, "/greetings"));
    if (step("list / after deletes", sd_list(d, "/", &names)))
        expect("store is empty", names.len == 0);
    sd_strlist_free(&names);

    sd_driver_free(d);
    if (argc <= 1)
        remove(root);
    if (failures) {
        printf("example: %d step(s) failed\n", failures);
        return 1;
    }
    printf("example: all operations ok\n");
    return 0;
}
