package main

import (
	"context"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
)

// TestEtcdClientTLS: [cluster] ca_file, cert_file and key_file reach an etcd that requires client
// certificates; without the certificate etcd refuses, and a CA file without a certificate in it is named.
func TestEtcdClientTLS(t *testing.T) {
	certs := etcdtest.NewTLS(t)
	cluster := etcdtest.StartTLS(t, 1, certs)
	c := config.Default()
	c.Cluster.Backend = config.BackendEtcd
	c.Cluster.Endpoints = cluster.URLs()
	c.Cluster.RequestTimeout = config.Duration{Duration: 2 * time.Second}
	c.Cluster.CAFile, c.Cluster.CertFile, c.Cluster.KeyFile = certs.CA, certs.ClientCert, certs.ClientKey
	put := func(c *config.Config) error {
		cl, err := etcdClient(c)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err = cl.Put(ctx, "/tls/probe", "ok")
		return err
	}
	if err := put(&c); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	noCert := c
	noCert.Cluster.CertFile, noCert.Cluster.KeyFile = "", ""
	if err := put(&noCert); err == nil {
		t.Error("etcd accepted a client without a certificate")
	}
	badCA := c
	badCA.Cluster.CAFile = certs.ClientKey
	if _, err := etcdClient(&badCA); err == nil {
		t.Error("a CA file without a certificate was accepted")
	}
}
