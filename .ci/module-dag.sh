#!/usr/bin/env bash
# Checks that a crate's modules form a DAG: no `use crate::…` import cycle.
#
#   bash .ci/module-dag.sh crates/guard [crates/sidecar …]   # fails on a cycle
#   bash .ci/module-dag.sh --print crates/guard              # also prints the edges
#   bash .ci/module-dag.sh --forbid ui:api --forbid api:ui crates/server
#                       # also fails on an import from a module under `ui`
#                       # (ui or ui::…) of one under `api`, and the reverse
#
# Why: a module cycle means no module of the cycle can be read, tested or
# moved without the others; the crates that grow (guard, sidecar) keep their
# modules layered instead.
#
# How (a textual check, no compiler needed): every `src/**/*.rs` file is a
# module (`a/b.rs` and `a/b/mod.rs` are `a::b`). A path `crate::x::y…`,
# `super::…`, `self::…`, or a child module named in a `use`, anywhere in a
# module's code (comments and `#[cfg(test)] mod tests` excepted), is an edge
# to the longest module that path names; a path to an item of the crate
# root (`crate::GuardError`) is an edge to `crate`. The root (lib.rs,
# main.rs) is the front door: its `mod` and `pub use` lines declare and
# re-export, they are not imports; anything else it uses counts. Each set
# of modules that import one another (a strongly connected component) is
# printed, and the script exits 1. A `--forbid FROM:TO` edge (a boundary
# between layers, e.g. the server's UI and its API handlers) is printed
# the same way and fails too.
set -euo pipefail

print=0
forbid=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --print) print=1; shift ;;
        --forbid)
            if [[ "${2:-}" != *:* ]]; then
                echo "module-dag: --forbid takes FROM:TO (module paths, e.g. ui:api)" >&2
                exit 2
            fi
            forbid="$forbid $2"; shift 2 ;;
        *) break ;;
    esac
done
if [[ $# -eq 0 ]]; then
    echo "usage: $0 [--print] [--forbid FROM:TO]... CRATE_DIR..." >&2
    exit 2
fi

status=0
for crate in "$@"; do
    src="$crate/src"
    if [[ ! -d "$src" ]]; then
        echo "module-dag: no $src" >&2
        exit 2
    fi
    PRINT=$print FORBID=$forbid perl -e '
use strict; use warnings;
my $src = shift;
my %file; # module path -> file
for my $f (split /\n/, `find "$src" -name "*.rs" | sort`) {
    my $rel = substr($f, length($src) + 1);
    next if $rel =~ m{(^|/)(bin|tests|benches|examples)/};
    $rel =~ s/\.rs$//;
    $rel =~ s{/mod$}{};
    my $m = ($rel eq "lib" || $rel eq "main") ? "crate" : join("::", split m{/}, $rel);
    $file{$m} = $f;
}
my %edges;
sub resolve {
    my ($path) = @_; # a::b::c (without crate::)
    my @p = split /::/, $path;
    while (@p) {
        my $m = join "::", @p;
        return $m if exists $file{$m} && $m ne "crate";
        pop @p;
    }
    return "crate";
}
# Expand `prefix::{a, b::{c, d}, e::f}` into full paths.
sub expand {
    my ($s) = @_;
    $s =~ s/\s+//g;
    my @out;
    if ($s =~ /^(.*?)\{(.*)\}$/s) {
        my ($pre, $body) = ($1, $2);
        my ($depth, $cur, @parts) = (0, "");
        for my $ch (split //, $body) {
            if ($ch eq "{") { $depth++ } elsif ($ch eq "}") { $depth-- }
            if ($ch eq "," && $depth == 0) { push @parts, $cur; $cur = ""; next }
            $cur .= $ch;
        }
        push @parts, $cur if length $cur;
        push @out, expand($pre . $_) for @parts;
    } else {
        push @out, $s;
    }
    return @out;
}
for my $m (sort keys %file) {
    open my $fh, "<", $file{$m} or die "$file{$m}: $!";
    local $/; my $text = <$fh>; close $fh;
    $text =~ s{#\[cfg\(test\)\]\s*mod\s+tests\b.*}{}s;   # unit tests: not the module graph
    $text =~ s{"(?:\\.|[^"\\])*"}{""}g;                   # strings
    $text =~ s{//[^\n]*}{}g;                              # comments (and docs)
    $text =~ s{/\*.*?\*/}{}gs;
    if ($m eq "crate") {
        $text =~ s{\bpub(\([^)]*\))?\s+use\s+[^;]*;}{}g;
        $text =~ s{\b(pub(\([^)]*\))?\s+)?mod\s+\w+\s*;}{}g;
    }
    my @paths;
    # use statements (groups expanded)
    while ($text =~ /\buse\s+([^;]+);/g) {
        my $u = $1;
        $u =~ s/\s+as\s+\w+//g;   # renames
        push @paths, expand($u);
    }
    # paths in code
    while ($text =~ /\b((?:crate|super|self)(?:\s*::\s*\w+)+)/g) {
        push @paths, $1;
    }
    my @parent = $m eq "crate" ? () : split /::/, $m;
    for my $p (@paths) {
        $p =~ s/\s+//g;
        my $target;
        if ($p =~ /^crate::(.+)$/) {
            $target = resolve($1);
        } elsif ($p =~ /^((?:super::)+)(.*)$/) {
            my ($supers, $rest) = ($1, $2);
            my $n = () = $supers =~ /super::/g;
            my @base = @parent; pop @base for 1 .. $n;
            $target = resolve(join "::", @base, $rest);
            $target = "crate" if !@base && $target eq "crate";
        } elsif ($p =~ /^self::(.+)$/) {
            $target = resolve(join "::", @parent, $1);
        } elsif ($p =~ /^(\w+)::/ && exists $file{join "::", @parent, $1}) {
            $target = resolve(join "::", @parent, $p);
        } else {
            next;
        }
        next if $target eq $m;
        $edges{$m}{$target} = 1;
    }
}
# Tarjan strongly connected components.
my ($index, @stack, %idx, %low, %on, @sccs) = (0);
sub visit {
    my ($v) = @_;
    $idx{$v} = $low{$v} = $index++;
    push @stack, $v; $on{$v} = 1;
    for my $w (sort keys %{ $edges{$v} || {} }) {
        if (!exists $idx{$w}) { visit($w); $low{$v} = $low{$w} if $low{$w} < $low{$v} }
        elsif ($on{$w}) { $low{$v} = $idx{$w} if $idx{$w} < $low{$v} }
    }
    if ($low{$v} == $idx{$v}) {
        my @c;
        while (1) { my $w = pop @stack; $on{$w} = 0; push @c, $w; last if $w eq $v }
        push @sccs, [sort @c] if @c > 1;
    }
}
visit($_) for grep { !exists $idx{$_} } sort keys %file;
if ($ENV{PRINT}) {
    for my $v (sort keys %file) {
        my @t = sort keys %{ $edges{$v} || {} };
        printf "%s -> %s\n", $v, @t ? join(", ", @t) : "(nothing)";
    }
}
my $bad = 0;
sub under { my ($m, $top) = @_; return $m eq $top || index($m, "${top}::") == 0 }
for my $pair (split " ", $ENV{FORBID} // "") {
    my ($from, $to) = split /:/, $pair, 2;
    for my $v (sort keys %edges) {
        next unless under($v, $from);
        for my $w (sort keys %{ $edges{$v} }) {
            next unless under($w, $to);
            print STDERR "module-dag: $src: forbidden import $v -> $w (no $from -> $to)\n";
            $bad = 1;
        }
    }
}
if (@sccs) {
    for my $c (@sccs) {
        my %in = map { $_ => 1 } @$c;
        print STDERR "module-dag: $src: import cycle among ", scalar(@$c), " modules: ", join(", ", @$c), "\n";
        for my $v (@$c) {
            my @t = grep { $in{$_} } sort keys %{ $edges{$v} };
            print STDERR "    $v -> ", join(", ", @t), "\n";
        }
    }
    exit 1;
}
exit 1 if $bad;
printf "module-dag: %s: %d modules, no import cycle%s\n", $src, scalar keys %file,
    $ENV{FORBID} ? ", no forbidden import" : "";
' "$src" || status=1
done
exit $status
