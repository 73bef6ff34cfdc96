package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/internal/corpus"
	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
)

// figures are what became of a class of corpus cases: attacks and those
// contained, benign cases and those blocked, benign responses marked.
type figures struct{ attacks, contained, benign, blocked, marked int }

// classFigures are the figures by class.
type classFigures map[string]*figures

func (cf classFigures) total() figures {
	var t figures
	for _, f := range cf {
		t.attacks += f.attacks
		t.contained += f.contained
		t.benign += f.benign
		t.blocked += f.blocked
		t.marked += f.marked
	}
	return t
}

// corpusFigures runs the corpus through a proxy and gateway (in this
// process: the same code as the sidecars) in front of loopback upstreams,
// as TestCorpus does, and counts by class: attacks contained, benign cases
// blocked, benign responses marked.
func corpusFigures() (figs classFigures, err error) {
	const secret = "corpus-injected-" + "Zq81vLx0Tn5eW2aJ"
	cases, err := corpus.Load("sidecars/egress/testdata/corpus", secret)
	if err != nil {
		return
	}
	figs = classFigures{}
	up := &corpus.Upstream{}
	tlsUp, plainUp := httptest.NewTLSServer(up), httptest.NewServer(up)
	defer tlsUp.Close()
	defer plainUp.Close()
	dir, err := os.MkdirTemp("", "corpus-")
	if err != nil {
		return
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "upstream-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsUp.Certificate().Raw}), 0o644)
	routes, err := corpus.Routes("sidecars/egress/testdata/corpus/routes.toml", tlsUp.URL, caFile, plainUp.URL)
	if err != nil {
		return
	}
	os.Setenv("CORPUS_SECRET", secret)
	egDir := filepath.Join(dir, "egress")
	os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
	if _, err = egress.Prepare(context.Background(), "corpus", egDir, "", filepath.Join(dir, "agent"), routes, nil, nil, nil, nil); err != nil {
		return
	}
	gw, err := egress.NewGateway(egDir)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go gw.Serve(ctx)
	caPEM, _ := os.ReadFile(filepath.Join(egDir, egress.CAFile))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, c := range cases {
		os.Remove(filepath.Join(egDir, egress.ReadyFile))
		p, perr := egress.NewProxy(egDir)
		if perr != nil {
			return nil, perr
		}
		pctx, pcancel := context.WithCancel(ctx)
		go p.Serve(pctx, "127.0.0.1:0")
		var addr []byte
		for range 200 { // the file may be there before its address is written in it
			if addr, _ = os.ReadFile(filepath.Join(egDir, egress.ReadyFile)); strings.TrimSpace(string(addr)) != "" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if strings.TrimSpace(string(addr)) == "" {
			pcancel()
			return nil, fmt.Errorf("the proxy did not come up")
		}
		up.SetResponse(c.Response)
		var results []corpus.Result
		for _, raw := range c.Requests {
			r, serr := up.Send(strings.TrimSpace(string(addr)), roots, raw)
			if serr != nil {
				r = corpus.Result{Outcome: "error", Detail: serr.Error()}
			}
			results = append(results, r)
		}
		pcancel()
		ok := len(c.Verdict(results, dlp.Forms(secret))) == 0
		f := figs[c.Class]
		if f == nil {
			f = &figures{}
			figs[c.Class] = f
		}
		if c.Attack {
			f.attacks++
			if ok {
				f.contained++
			}
			continue
		}
		f.benign++
		for _, r := range results {
			if r.Outcome != "allow" {
				f.blocked++
				break
			}
		}
		if last := results[len(results)-1]; last.Outcome == "allow" && corpus.InboundOutcome(last.Detail) == "marked" {
			f.marked++
		}
	}
	return figs, nil
}
